// hat-main: the `hat` binary. It only starts the command line of Sources/hat (a library, so that
// hat-fuzz can parse the same commands in-process).

import hat

@main
enum Entry {
    static func main() {
        HAT.restartWithBetterBLASCoreIfNeeded()
        HAT.runAndExit()
    }
}
