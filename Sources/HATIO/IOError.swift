// HATIOError: the one typed error of the file readers and writers. Its message says what was
// expected, what was found and where (file, tensor or field, byte offset), so a user sees
// e.g. "m.safetensors: tensor 'w': data_offsets [0, 12] end beyond the data section of 8 bytes".

import Foundation

public struct HATIOError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public enum Kind: String, Sendable {
        case io                 // open/read/write/rename failed (errno in the message)
        case truncated          // the file ends before a structure it announces
        case malformed          // syntax: bad JSON, bad magic, bad UTF-8, wrong field type
        case unsupported        // well-formed but not handled (version, dtype, quant type, architecture)
        case unknownDType       // a dtype/type name or id this reader does not know
        case badShape           // negative dims, too many dims, size mismatch, overflow
        case outOfBounds        // an offset or range outside the file or its data section
        case overlap            // two tensors share bytes
        case gap                // bytes of the data section that no tensor covers
        case misaligned         // an offset that breaks the format's alignment
        case missingTensor      // a tensor that should be there is not
        case extraTensor        // a tensor that should not be there is
        case duplicate          // the same name twice
        case usage              // the caller broke the API contract (wrong count, order, dtype)
        case badConfig          // config.json / GGUF metadata inconsistent or missing a field
        case nonFinite          // a weight that is NaN or infinite
    }

    public let kind: Kind
    /// The file the problem is in.
    public let path: String
    /// The tensor (or field) concerned, when there is one.
    public let tensor: String?
    /// Absolute byte offset in the file, when it helps.
    public let offset: Int?
    public let message: String

    public init(_ kind: Kind, path: String, tensor: String? = nil, offset: Int? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.tensor = tensor
        self.offset = offset
        self.message = message
    }

    public var description: String {
        var s = path
        if let tensor { s += ": '\(tensor)'" }
        s += ": " + message
        if let offset { s += " (byte offset \(offset))" }
        return s
    }

    public var errorDescription: String? { description }

    /// Throws `.nonFinite` naming `tensor` of `path` and the first NaN or infinite value among the
    /// `count` values just read from it: what every weight loader checks before using a tensor.
    public static func requireFinite(_ values: UnsafePointer<Float>, count: Int, path: String, tensor: String) throws {
        if let bad = (0..<count).first(where: { !values[$0].isFinite }) {
            throw HATIOError(.nonFinite, path: path, tensor: tensor, "holds a non-finite value (\(values[bad])) at element \(bad)")
        }
    }
}

/// The text of errno, e.g. "No such file or directory".
func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
