// Locations: where the command line finds presets (Models/configs/NAME.json) and the shipped
// models (Models/NAME; the default is Models/smollm2-hat): in the current directory or one of
// its parents, then in the repository the running binary sits in (…/.build/release/hat → the
// repository), found from /proc/self/exe whatever path the binary was started by
// (`./.build/release/hat`, a symlink, $PATH).
// An installed binary outside a checkout (e.g. /usr/local/bin/hat) finds them only when run from
// inside a checkout; otherwise pass a config file's path (--config FILE) and --model DIR.

import Foundation

public enum Locations {
    /// Candidate repository roots, nearest first: the current directory and up to five parents,
    /// then the executable's directory and up to four parents. All absolute; never empty.
    public static var roots: [String] {
        let current = FileManager.default.currentDirectoryPath
        return ancestors(of: current, count: 6) + ancestors(of: (executable as NSString).deletingLastPathComponent, count: 5)
    }

    /// The running binary's absolute path (/proc/self/exe; else argv[0] made absolute).
    public static var executable: String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"), path.hasPrefix("/") {
            return path
        }
        return absolute(CommandLine.arguments.first ?? "hat")
    }

    /// `path` and its parents, at most `count` of them, stopping at "/".
    public static func ancestors(of path: String, count: Int) -> [String] {
        var result: [String] = []
        var directory = absolute(path)
        for _ in 0..<count {
            result.append(directory)
            if directory == "/" { break }
            directory = (directory as NSString).deletingLastPathComponent
            if directory.isEmpty { directory = "/" }
        }
        return result
    }

    /// `path` as an absolute, standardized path (relative paths are taken from the current directory).
    public static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let standardized = (full as NSString).standardizingPath
        return standardized.isEmpty ? "/" : standardized
    }

    /// A config given as a file path, or as a preset name found in Models/configs.
    public static func config(_ nameOrPath: String) throws -> String {
        if FileManager.default.fileExists(atPath: nameOrPath) { return nameOrPath }
        for root in roots {
            let candidate = "\(root)/Models/configs/\(nameOrPath).json"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        throw CommandError("no config file or preset named '\(nameOrPath)' (presets are Models/configs/NAME.json of the "
                           + "repository the current directory or the hat binary is in; or pass a config file's path)")
    }

    /// The model a command opens when given none (the REPL's): SmolLM2-135M's frozen blocks with
    /// byte-level parts trained around them. It reads those blocks from the GGUF `scripts/setup`
    /// fetches (python3 scripts/fetch_data.py smollm2).
    public static let defaultModelName = "smollm2-hat"

    /// The shipped default model directory (Models/ + defaultModelName).
    public static func defaultModel() throws -> String { try shippedModel(defaultModelName) }

    /// A shipped model directory, Models/NAME (e.g. "default", the first round's model trained
    /// from scratch on literature, which the benchmarks measure).
    public static func shippedModel(_ name: String) throws -> String {
        for root in roots {
            let candidate = "\(root)/Models/\(name)"
            if FileManager.default.fileExists(atPath: candidate + "/config.json") { return candidate }
        }
        throw CommandError("the shipped model Models/\(name) was not found; pass --model DIR")
    }

    /// The help of every command's model option: what it may be, and the default.
    public static let modelHelp = "HAT model directory, GGUF file or Hugging Face Llama directory "
        + "(default: Models/\(defaultModelName))."
}
