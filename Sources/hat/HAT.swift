// hat: the command line. This file lists the subcommands and holds what runs before and around
// them: making sure OpenBLAS uses the best kernels this CPU has (BLASCore), and turning any error
// into one clear line and an exit status (the binary's entry point is Sources/hat-main).

import ArgumentParser
import Foundation
import HATBench
import HATCommandLine
import HATReport
import HATTensor

public struct HAT: ParsableCommand {
    public init() {}

    static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "hat",
        abstract: "Hierarchical byte-level language models: split, train, evaluate, generate.",
        discussion: """
            Exit status: 0 done, 1 an error (one line on standard error says what and where), \
            64 a bad flag, 130 stopped by Ctrl-C or SIGTERM after saving what could be saved \
            (hat train: a checkpoint; hat robustness: OUT.interrupted/results.json).
            """,
        version: version,
        subcommands: [
            ReplCommand.self,
            Generate.self,
            Serve.self,
            Train.self,
            Eval.self,
            Info.self,
            Export.self,
            GraftCommand.self,
            Segment.self,
            Bench.self,
            ConvertBackbone.self,
            Perturb.self,
            Robustness.self,
            Report.self,
        ],
        defaultSubcommand: ReplCommand.self
    )

    /// Parses `arguments` (default: the process's), runs the command and exits. Errors become one
    /// clear line: Foundation's file errors are reworded to name the file (`ClearError`).
    public static func runAndExit(_ arguments: [String]? = nil) -> Never {
        unblockStopSignals()
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            exit()
        } catch {
            exit(withError: ClearError.reworded(error))
        }
    }

    /// SIGINT and SIGTERM stop long commands cleanly (train saves a checkpoint, robustness its
    /// results). A process can inherit them blocked (some test runners and supervisors start
    /// children so), and then Ctrl-C would never arrive: unblock them before anything starts.
    static func unblockStopSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// OpenBLAS chose its kernels when it loaded, before main. If it fell back to a generic core
    /// although this CPU runs a better one, and the user did not set OPENBLAS_CORETYPE, run this
    /// program again (once) with the better core set. Nothing has been read or written yet.
    public static func restartWithBetterBLASCoreIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        guard environment[BLASCore.replacedVariable] == nil,
              let core = BLASCore.replacement(loaded: BLAS.coreName, cpu: .current,
                                              userSetting: environment["OPENBLAS_CORETYPE"]) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(BLASCore.replacedVariable, BLAS.coreName, 1)
        var arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &arguments)
        // Only reached when the restart failed: go on with the kernels OpenBLAS picked.
        unsetenv("OPENBLAS_CORETYPE")
        for argument in arguments { free(argument) }
    }
}
