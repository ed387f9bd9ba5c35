// Options shared by several commands: --threads, which every computing command takes.

import ArgumentParser
import HATTensor

/// --threads: the threads a command computes on. Results do not depend on it, only speed.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads to compute on (1 to \(ComputeContext.maxThreads); results do not depend on it).")
    var threads = 2

    func validate() throws {
        guard (1...ComputeContext.maxThreads).contains(threads) else {
            throw ValidationError("--threads must be between 1 and \(ComputeContext.maxThreads), got \(threads)")
        }
    }

    /// A context with `threads` threads (its worker threads start on first use and end with it).
    func makeContext() -> ComputeContext { ComputeContext(threads: threads) }
}
