/// Opens after `failureThreshold` consecutive failures; while open every call fails fast; after `resetAfter`
/// one probe call goes through: success closes the breaker, failure opens it again.
public actor CircuitBreaker {
    /// The breaker's state.
    public enum State: Sendable, Equatable {
        /// Calls go through.
        case closed
        /// Calls fail fast until the given time.
        case open(until: Double)
        /// One probe call is under way.
        case halfOpen
    }

    private let settings: CircuitBreakerSettings
    private let time: any TimeSource
    private var consecutiveFailures = 0
    /// The current state.
    public private(set) var state: State = .closed

    /// Creates a closed breaker.
    public init(settings: CircuitBreakerSettings, time: any TimeSource = SystemTime()) {
        self.settings = settings
        self.time = time
    }

    /// Asks to make a call; throws `circuitOpen` while the breaker is open or a probe is under way.
    public func acquire() throws(BigQueryError) {
        switch state {
        case .closed:
            return
        case .open(let until):
            let now = time.now()
            guard now >= until else {
                throw .circuitOpen(failures: consecutiveFailures, retryInSeconds: until - now)
            }
            state = .halfOpen
        case .halfOpen:
            throw .circuitOpen(failures: consecutiveFailures, retryInSeconds: 0)
        }
    }

    /// Records a call that reached a healthy service.
    public func recordSuccess() {
        consecutiveFailures = 0
        state = .closed
    }

    /// Records a failure that counts against the service (connection errors, 5xx, rate limits).
    public func recordFailure() {
        consecutiveFailures += 1
        if state == .halfOpen || consecutiveFailures >= settings.failureThreshold {
            state = .open(until: time.now() + settings.resetAfter.seconds)
        }
    }

    /// Consecutive failures so far.
    public var failures: Int { consecutiveFailures }
}
