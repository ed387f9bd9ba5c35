// ProcessStats: what benchmarks print to show that a steady-state step allocates nothing:
// resident memory from /proc/self/statm.

#if canImport(Glibc)
import Glibc
#endif

public enum ProcessStats {
    /// Resident set size in bytes (0 where /proc is not available).
    public static func residentBytes() -> Int {
        #if os(Linux)
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 128)
        guard fgets(&line, Int32(line.count), file) != nil else { return 0 }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return 0
        #endif
    }
}
