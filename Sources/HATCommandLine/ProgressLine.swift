// ProgressLine: one redrawn line on standard error for work that takes more than a moment. It is
// shown only when standard error is a terminal and the command is not printing JSON, so pipes,
// logs and --json output stay clean; it redraws at most ten times a second and is cleared at
// the end, before the command prints its result. Work that cannot report a fraction runs in
// `whileRunning`, which shows the seconds elapsed.

import Foundation

public final class ProgressLine: @unchecked Sendable {
    public let enabled: Bool
    private var lastDraw = Date.distantPast
    private var drawn = false

    public init(quiet: Bool = false) { enabled = !quiet && isatty(STDERR_FILENO) != 0 }

    /// Redraws the line (unless one was drawn less than 0.1 s ago).
    public func update(_ text: @autoclosure () -> String) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        drawn = true
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text()).utf8))
    }

    /// Clears the line.
    public func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        drawn = false
    }

    /// Runs `body` while another thread redraws "label: N s" every half second, from the first
    /// half second on (nothing else draws meanwhile); the line is cleared when `body` returns.
    public func whileRunning<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = Date()
        let stop = DispatchSemaphore(value: 0), stopped = DispatchSemaphore(value: 0)
        let ticker = Thread { [self] in
            while stop.wait(timeout: .now() + 0.5) == .timedOut {
                update("\(label): \(Int(Date().timeIntervalSince(start))) s")
            }
            stopped.signal()
        }
        ticker.start()
        defer {
            stop.signal()
            stopped.wait()
            finish()
        }
        return try body()
    }

    /// "12.3 MB" style sizes for progress text.
    public static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
}
