// Errors of the command line: `CommandError` is one clear line of our own; `ClearError.reworded`
// turns what Foundation throws (NSCocoaErrorDomain codes, JSON decoding errors) into such a line
// naming the file and the reason, so no command prints "The operation could not be completed".

import ArgumentParser
import Foundation

/// An error the command line reports as one clear line and a non-zero exit.
public struct CommandError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum ClearError {
    /// `error` as the command line should print it: ArgumentParser's own errors and exit codes
    /// unchanged, Foundation's file and JSON errors as one `CommandError` line.
    public static func reworded(_ error: Error) -> Error {
        switch error {
        case is CommandError, is ValidationError, is ExitCode, is CleanExit:
            return error
        case let error as DecodingError:
            return CommandError(describe(error))
        default:
            break
        }
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return error }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String)
            ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
            ?? (ns.userInfo["NSSourceFilePathErrorKey"] as? String)
        return CommandError((path.map { $0 + ": " } ?? "") + reason(ns))
    }

    /// Why a Foundation file operation failed, in words (the POSIX reason when there is one).
    public static func reason(_ error: NSError) -> String {
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code))).lowercased()
        }
        if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))).lowercased() }
        switch CocoaError.Code(rawValue: error.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
        case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
        case .fileWriteFileExists: return "already exists"
        case .fileReadCorruptFile: return "not in the expected format"
        case .fileReadTooLarge: return "too large to read"
        case .fileReadInapplicableStringEncoding, .fileWriteInapplicableStringEncoding: return "not valid text in the expected encoding"
        case .fileWriteOutOfSpace: return "no space left on the device"
        case .fileWriteVolumeReadOnly: return "read-only file system"
        case .fileReadUnknown: return "cannot be read (is it a directory?)"
        case .fileWriteUnknown: return "cannot be written (is it a directory, or is its directory missing?)"
        default: return "failed (\(error.localizedDescription))"
        }
    }

    /// A JSON decoding error as "field a.b: what went wrong".
    public static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context, _ key: CodingKey? = nil) -> String {
            let keys = context.codingPath + (key.map { [$0] } ?? [])
            return keys.isEmpty ? "(top level)" : keys.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(key, context): return "JSON field \(path(context, key)) is missing"
        case let .typeMismatch(type, context): return "JSON field \(path(context)): expected \(type)"
        case let .valueNotFound(type, context): return "JSON field \(path(context)): expected \(type), found null"
        case let .dataCorrupted(context): return "JSON \(path(context)): \(context.debugDescription)"
        @unknown default: return "JSON: \(error)"
        }
    }
}
