// AtomicDirectory: an output directory is written whole or not at all, and never over anything
// by surprise. `check` refuses, before any work: an output that exists and is not a directory;
// a non-empty one unless the caller was told to replace it (--force); one that is an input or
// holds one (even with --force). `write` fills a temporary sibling (.NAME.partial-…), then
// renames it into place; an existing output is first renamed away (.NAME.old-…) and removed
// only once the new one is in place, so a failure at any point leaves the old one or the new one.

import Foundation

public enum AtomicDirectory {
    /// Throws unless `out` may be written: absent or an empty directory, or a non-empty directory
    /// with `force`, and neither one of `inputs` nor a directory holding one. `flag` names the
    /// option in messages ("--out").
    public static func check(_ out: String, force: Bool, inputs: [String], flag: String = "--out") throws {
        let fm = FileManager.default
        let target = resolved(out)
        for input in inputs where !input.isEmpty {
            let source = resolved(input)
            if source == target || source.hasPrefix(target.hasSuffix("/") ? target : target + "/") {
                throw HATIOError(.usage, path: out, "\(flag) \(out) is the input \(input)\(source == target ? "" : " or holds it"); "
                                 + "writing there would replace what is being read: choose another directory")
            }
        }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: out, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else {
            throw HATIOError(.usage, path: out, "\(flag) \(out) exists and is not a directory")
        }
        let contents = try contentsOf(out)
        if !contents.isEmpty && !force {
            let shown = contents.sorted().prefix(4).joined(separator: ", ") + (contents.count > 4 ? ", …" : "")
            throw HATIOError(.usage, path: out, "\(flag) \(out) already holds \(shown); pass --force to replace the whole directory")
        }
    }

    /// Checks `out` (as `check`), calls `body` with a new temporary directory beside it to fill, and
    /// puts that directory in `out`'s place.
    public static func write(_ out: String, force: Bool, inputs: [String], flag: String = "--out",
                             _ body: (String) throws -> Void) throws {
        try check(out, force: force, inputs: inputs, flag: flag)
        let fm = FileManager.default
        let standardized = (out as NSString).standardizingPath
        let parent = (standardized as NSString).deletingLastPathComponent
        let name = (standardized as NSString).lastPathComponent
        let directory = parent.isEmpty ? "." : parent
        do {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw HATIOError(.io, path: directory, "cannot create the directory for \(flag) \(out): \(reason(error))")
        }
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let temporary = directory + "/." + name + ".partial-" + tag
        do {
            try fm.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        } catch {
            throw HATIOError(.io, path: temporary, "cannot create a temporary directory beside \(out): \(reason(error))")
        }
        do {
            try body(temporary)
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw error
        }
        let old = directory + "/." + name + ".old-" + tag
        let replacing = fm.fileExists(atPath: out)
        if replacing {
            guard rename(out, old) == 0 else {
                let why = errnoText()
                try? fm.removeItem(atPath: temporary)
                throw HATIOError(.io, path: out, "cannot move the old directory aside: \(why)")
            }
        }
        guard rename(temporary, out) == 0 else {
            let why = errnoText()
            if replacing { _ = rename(old, out) }
            try? fm.removeItem(atPath: temporary)
            throw HATIOError(.io, path: out, "cannot rename \(temporary) into place: \(why)")
        }
        if replacing { try? fm.removeItem(atPath: old) }
    }

    /// The entries of a directory, as a HATIOError when it cannot be listed.
    static func contentsOf(_ directory: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw HATIOError(.io, path: directory, "cannot list: \(reason(error))")
        }
    }

    /// `path` with symbolic links resolved (as far as it exists) and made absolute.
    static func resolved(_ path: String) -> String {
        let fm = FileManager.default
        let absolute = path.hasPrefix("/") ? path : fm.currentDirectoryPath + "/" + path
        let standardized = (absolute as NSString).standardizingPath
        if fm.fileExists(atPath: standardized) {
            return (standardized as NSString).resolvingSymlinksInPath
        }
        let parent = (standardized as NSString).deletingLastPathComponent
        if parent.isEmpty || parent == standardized { return standardized }
        return (resolved(parent) as NSString).appendingPathComponent((standardized as NSString).lastPathComponent)
    }

    private static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return errnoText(Int32(underlying.code))
        }
        return ns.localizedDescription
    }
}
