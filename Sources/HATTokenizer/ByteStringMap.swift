// ByteStringMap: byte strings → UInt64, open addressing, keys stored once in one byte array (no
// array per key). Holds the vocabulary by raw bytes (ignore_merges) and the cache of encoded
// words (BPEWordCache), which is why it has no removal.

struct ByteStringMap: Sendable {
    private var keyBytes: [UInt8] = []
    private var keyStart: [Int] = []
    private var keyLength: [Int] = []
    private var keyHash: [UInt64] = []
    private var values: [UInt64] = []
    /// Entry index per slot, -1 empty; the table is kept at most half full.
    private var slots = [Int32](repeating: -1, count: 64)

    var count: Int { values.count }
    var storedBytes: Int { keyBytes.count }

    static func hash(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UInt64 {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(range.count)
        var i = range.lowerBound
        if let base = bytes.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= range.upperBound {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                h ^= h >> 29
                i += 8
            }
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < range.upperBound {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 31)
    }

    /// The value stored for `bytes[range]` (whose hash is `hash`), or nil.
    @inline(__always)
    func value(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, hash: UInt64) -> UInt64? {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: hash) & mask
        while true {
            let e = Int(slots[s])
            if e < 0 { return nil }
            if keyHash[e] == hash && keyLength[e] == range.count && keyEquals(e, bytes, range) { return values[e] }
            s = (s + 1) & mask
        }
    }

    private func keyEquals(_ e: Int, _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        let start = keyStart[e]
        var k = 0
        while k < range.count {
            if keyBytes[start + k] != bytes[range.lowerBound + k] { return false }
            k += 1
        }
        return true
    }

    /// Adds a key that is not in the map yet.
    mutating func insertNew(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, hash: UInt64, value: UInt64) {
        if (values.count + 1) * 2 > slots.count { grow() }
        let e = values.count
        keyStart.append(keyBytes.count)
        keyBytes.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[range]))
        keyLength.append(range.count)
        keyHash.append(hash)
        values.append(value)
        place(e)
    }

    private mutating func place(_ e: Int) {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: keyHash[e]) & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = Int32(e)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        for e in 0..<values.count { place(e) }
    }
}
