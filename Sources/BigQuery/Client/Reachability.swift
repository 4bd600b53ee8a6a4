import Foundation
import HTTP
import Logging
import Synchronization

/// What one session has learnt of its endpoint: whether any request has had an HTTP answer yet, and whether the
/// first failure to get one was reported. Shared by every call, so a burst of concurrent calls that all fail to
/// connect reports it once.
final class Reachability: Sendable {
    private struct State {
        var answered = false
        var reported = false
    }

    private let state = Mutex(State())

    /// A request had an HTTP answer (any status): the endpoint is there.
    func markAnswered() { state.withLock { $0.answered = true } }

    /// Whether any request of this session has had an HTTP answer.
    var hasAnswered: Bool { state.withLock { $0.answered } }

    /// True for the first caller only: the one that reports the first failure.
    func claimFirstReport() -> Bool {
        state.withLock { state in
            defer { state.reported = true }
            return !state.reported
        }
    }
}

extension BigQueryClient {
    /// The root a URL belongs to (the REST or the upload root), else the URL without its query: what a message
    /// names as the place that could not be reached.
    nonisolated func endpointRoot(of url: String) -> String {
        for root in [configuration.uploadRoot, configuration.apiRoot] where url.hasPrefix(root) { return root }
        return Self.redactedURL(url)
    }

    /// A transport failure as a caller's error message says it: what went wrong, where, where that address came
    /// from, and curl's own words.
    nonisolated func unreachable(_ error: HTTPError, url: String) -> String {
        "\(error.cause.rawValue) at \(endpointRoot(of: url)) (from \(configuration.endpointSource)): \(error.message)"
    }

    /// Whether a failure ends the call at once although it is retryable: nothing listens on this machine's
    /// loopback at the endpoint's port and no request of this session has reached it yet (an emulator or proxy
    /// not started, a wrong port). Waiting will not start it. Real, remote endpoints keep their retries: a refused
    /// connection there can be a restart or a load balancer in passing.
    nonisolated func isNothingListening(_ error: HTTPError, url: String) -> Bool {
        guard error.cause == .refused, !reachability.hasAnswered, let host = URL(string: url)?.host else {
            return false
        }
        return Endpoint.isLoopback(host: host)
    }

    /// The first failure of the session to reach the endpoint, said once at warning level (visible by
    /// default): where, from which setting, why, and how long retrying may take at most.
    nonisolated func reportFirstFailure(
        _ error: HTTPError, url: String, attempt: Int, start: Double, retry: RetryPolicy
    ) {
        guard reachability.claimFirstReport() else { return }
        let left = max(0, retry.maxAttempts - attempt)
        let backoff = (attempt..<max(attempt, retry.maxAttempts)).reduce(0.0) {
            $0 + retry.ceiling(beforeRetry: $1).seconds
        }
        let most = max(0, min(backoff, retry.deadline.seconds - (time.now() - start)))
        let line =
            "cannot reach \(endpointRoot(of: url)) (from \(configuration.endpointSource)): \(error.cause.rawValue); "
            + "retrying up to \(left) more time\(left == 1 ? "" : "s") for at most \(Self.seconds(most))"
        logger.warning("\(line)")
    }

    /// Seconds for a message: `0.3 s`, `7 s`, `63 s`.
    nonisolated static func seconds(_ value: Double) -> String {
        value < 10 && value != value.rounded() ? "\(Format.fixed(value, digits: 1)) s" : "\(Int(value.rounded(.up))) s"
    }
}
