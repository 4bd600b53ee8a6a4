import Testing

@testable import SyncKit

/// JSON values go to BigQuery through `PARSE_JSON(…, wide_number_mode => 'round')`: a wide number is rounded to
/// the nearest FLOAT64, and a number no FLOAT64 holds is refused at plan time (BigQuery would fail the MERGE).
@Suite struct JSONNumberTests {
    @Test(arguments: [
        RawValue.number("12345678901234567890123"), .composite(#"{"a": [1, 2.5e300, -3], "b": "1e400"}"#),
        .string(#"{"n": 1E+308}"#), .composite("[true, false, null, 0.1]"),
    ])
    func wideNumbersPass(_ raw: RawValue) throws {
        #expect(try ValueConversion.canonical(raw, as: .json) != nil)
    }

    @Test(arguments: [RawValue.number("1e400"), .composite(#"{"a": {"b": [-1e999]}}"#)])
    func aNumberNoFloat64HoldsIsRefused(_ raw: RawValue) {
        let problem = #expect(throws: ConversionProblem.self) { _ = try ValueConversion.canonical(raw, as: .json) }
        #expect(problem?.message.contains("is out of FLOAT64's range") == true, "\(String(describing: problem))")
    }
}

extension JSONNumberTests {
    /// A CSV field of a JSON column is JSON text, checked the same way.
    @Test func aCSVFieldOfAJSONColumnIsCheckedToo() {
        #expect(throws: ConversionProblem.self) { _ = try ValueConversion.scalar("[2E+308]", as: .json) }
        #expect((try? ValueConversion.scalar(#"{"n": 1E+308}"#, as: .json)) != nil)
    }
}
