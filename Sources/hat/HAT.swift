// hat: the command line. One file per subcommand; this file lists them and, before anything
// runs, makes sure OpenBLAS uses the best kernels this CPU has (BLASCore).

import ArgumentParser
import Foundation
import HATTensor

@main
enum Entry {
    static func main() {
        restartWithBetterBLASCoreIfNeeded()
        HAT.main()
    }

    /// OpenBLAS chose its kernels when it loaded, before main. If it fell back to a generic core
    /// although this CPU runs a better one, and the user did not set OPENBLAS_CORETYPE, run this
    /// program again (once) with the better core set. Nothing has been read or written yet.
    static func restartWithBetterBLASCoreIfNeeded() {
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

struct HAT: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "hat",
        abstract: "Hierarchical byte-level language models: split, train, evaluate, generate.",
        version: version,
        subcommands: [
            ReplCommand.self,
            Generate.self,
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
}
