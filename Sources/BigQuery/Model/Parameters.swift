/// The type of a named query parameter.
public indirect enum ParameterType: Sendable, Hashable {
    /// A scalar type such as INT64 or STRING.
    case scalar(String)
    /// An ARRAY of the element type.
    case array(ParameterType)
    /// A STRUCT with named fields, in order.
    case structure([StructField])

    /// One field of a STRUCT type.
    public struct StructField: Sendable, Hashable {
        /// The field's name.
        public var name: String
        /// The field's type.
        public var type: ParameterType

        /// Creates a field.
        public init(name: String, type: ParameterType) {
            self.name = name
            self.type = type
        }
    }

    /// Writes the `parameterType` object.
    public func write(to json: inout JSONWriter) {
        json.object { object in
            switch self {
            case .scalar(let name):
                object.field("type", string: name)
            case .array(let element):
                object.field("type", string: "ARRAY")
                object.field("arrayType") { element.write(to: &$0) }
            case .structure(let fields):
                object.field("type", string: "STRUCT")
                object.field("structTypes") { json in
                    json.array(fields) { json, field in
                        json.object { object in
                            object.field("name", string: field.name)
                            object.field("type") { field.type.write(to: &$0) }
                        }
                    }
                }
            }
        }
    }
}

/// The value of a named query parameter.
public indirect enum ParameterValue: Sendable, Hashable {
    /// NULL (the `value` is omitted).
    case null
    /// A scalar, as BigQuery's JSON spells it (INT64 as a decimal string, BOOL as "true"/"false", …).
    case scalar(String)
    /// An array of values.
    case array([ParameterValue])
    /// A struct's field values by name.
    case structure([(String, ParameterValue)])
    /// The `parameterValue` object already written as JSON (the fast path for large batches).
    case encoded([UInt8])

    /// Writes the `parameterValue` object.
    public func write(to json: inout JSONWriter) {
        switch self {
        case .null:
            json.raw("{}")
        case .scalar(let text):
            json.object { $0.field("value", string: text) }
        case .array(let items):
            json.object { object in
                object.field("arrayValues") { json in json.array(items) { json, item in item.write(to: &json) } }
            }
        case .structure(let fields):
            json.object { object in
                object.field("structValues") { json in
                    json.object { inner in
                        for (name, value) in fields { inner.field(name) { value.write(to: &$0) } }
                    }
                }
            }
        case .encoded(let bytes):
            json.raw(bytes)
        }
    }

    public static func == (lhs: ParameterValue, rhs: ParameterValue) -> Bool {
        var a = JSONWriter()
        var b = JSONWriter()
        lhs.write(to: &a)
        rhs.write(to: &b)
        return a.bytes == b.bytes
    }

    public func hash(into hasher: inout Hasher) {
        var json = JSONWriter()
        write(to: &json)
        hasher.combine(json.bytes)
    }
}

/// A named query parameter (`@name` in the SQL).
public struct QueryParameter: Sendable, Hashable {
    /// The name, without `@`.
    public var name: String
    /// Its type.
    public var type: ParameterType
    /// Its value.
    public var value: ParameterValue

    /// Creates a parameter.
    public init(name: String, type: ParameterType, value: ParameterValue) {
        self.name = name
        self.type = type
        self.value = value
    }

    /// A STRING parameter (NULL when nil).
    public static func string(_ name: String, _ value: String?) -> QueryParameter {
        QueryParameter(name: name, type: .scalar("STRING"), value: value.map { .scalar($0) } ?? .null)
    }

    /// An INT64 parameter.
    public static func int64(_ name: String, _ value: Int64) -> QueryParameter {
        QueryParameter(name: name, type: .scalar("INT64"), value: .scalar(String(value)))
    }

    /// Writes the parameter object.
    public func write(to json: inout JSONWriter) {
        json.object { object in
            object.field("name", string: name)
            object.field("parameterType") { type.write(to: &$0) }
            object.field("parameterValue") { value.write(to: &$0) }
        }
    }
}
