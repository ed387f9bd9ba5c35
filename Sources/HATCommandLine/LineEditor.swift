// LineEditor: a small line editor for the REPL on a terminal: ←/→, Home/End, Backspace/Delete,
// Ctrl-A/E/U/K/W, ↑/↓ history, Ctrl-C clears the line, Ctrl-D on an empty line ends input.
// Works on bytes in raw mode (termios) and restores the terminal afterwards; multi-byte UTF-8
// characters move and delete as one. Non-terminal input is read with readLine instead.

import Foundation

public final class LineEditor {
    public init() {}
    private var history: [String] = []
    private var original = termios()

    /// Reads one line; nil at end of input.
    public func readLine(prompt: String) -> String? {
        guard isatty(STDIN_FILENO) != 0 else { return Swift.readLine(strippingNewline: true) }
        write(prompt)
        tcgetattr(STDIN_FILENO, &original)
        var raw = original
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw)
        defer { tcsetattr(STDIN_FILENO, TCSAFLUSH, &original) }

        var line: [UInt8] = []
        var cursor = 0
        var historyIndex = history.count
        var draft: [UInt8] = []

        func redraw() {
            var out = "\r\u{1B}[2K" + prompt + String(decoding: line, as: UTF8.self)
            let tail = String(decoding: line[cursor...], as: UTF8.self).count
            if tail > 0 { out += "\u{1B}[\(tail)D" }
            write(out)
        }
        func characterStart(before i: Int) -> Int {
            var j = i - 1
            while j > 0 && line[j] & 0xC0 == 0x80 { j -= 1 }
            return max(j, 0)
        }
        func characterEnd(after i: Int) -> Int {
            var j = i + 1
            while j < line.count && line[j] & 0xC0 == 0x80 { j += 1 }
            return min(j, line.count)
        }

        while true {
            guard let byte = readByte() else { return line.isEmpty ? nil : finish(line) }
            switch byte {
            case 0x0D, 0x0A: return finish(line)
            case 0x04: if line.isEmpty { write("\r\n"); return nil }           // Ctrl-D
            case 0x03: line = []; cursor = 0; write("^C\r\n"); write(prompt)    // Ctrl-C
            case 0x01: cursor = 0; redraw()                                     // Ctrl-A
            case 0x05: cursor = line.count; redraw()                            // Ctrl-E
            case 0x15: line.removeSubrange(0..<cursor); cursor = 0; redraw()   // Ctrl-U
            case 0x0B: line.removeSubrange(cursor...); redraw()                // Ctrl-K
            case 0x17:                                                         // Ctrl-W
                var start = cursor
                while start > 0 && line[start - 1] == 0x20 { start -= 1 }
                while start > 0 && line[start - 1] != 0x20 { start -= 1 }
                line.removeSubrange(start..<cursor)
                cursor = start
                redraw()
            case 0x7F, 0x08:                                                   // Backspace
                if cursor > 0 {
                    let start = characterStart(before: cursor)
                    line.removeSubrange(start..<cursor)
                    cursor = start
                    redraw()
                }
            case 0x1B:                                                          // escape sequences
                guard let b1 = readByte(), b1 == UInt8(ascii: "[") || b1 == UInt8(ascii: "O"),
                      let b2 = readByte() else { continue }
                switch b2 {
                case UInt8(ascii: "D"): if cursor > 0 { cursor = characterStart(before: cursor); redraw() }
                case UInt8(ascii: "C"): if cursor < line.count { cursor = characterEnd(after: cursor); redraw() }
                case UInt8(ascii: "H"): cursor = 0; redraw()
                case UInt8(ascii: "F"): cursor = line.count; redraw()
                case UInt8(ascii: "A"), UInt8(ascii: "B"):
                    if historyIndex == history.count { draft = line }
                    historyIndex += b2 == UInt8(ascii: "A") ? -1 : 1
                    historyIndex = min(max(historyIndex, 0), history.count)
                    line = historyIndex == history.count ? draft : Array(history[historyIndex].utf8)
                    cursor = line.count
                    redraw()
                case UInt8(ascii: "3"):                                         // Delete: ESC [ 3 ~
                    _ = readByte()
                    if cursor < line.count { line.removeSubrange(cursor..<characterEnd(after: cursor)); redraw() }
                default: break
                }
            default:
                if byte >= 0x20 {
                    // Typing (or pasting) at the end echoes the byte alone: a pasted line of n
                    // bytes costs O(n), where redrawing the whole line each time cost O(n²).
                    let atEnd = cursor == line.count
                    line.insert(byte, at: cursor)
                    cursor += 1
                    if atEnd { write([byte]) } else { redraw() }
                }
            }
        }
    }

    private func finish(_ line: [UInt8]) -> String {
        write("\r\n")
        let text = String(decoding: line, as: UTF8.self)
        if !text.isEmpty && history.last != text { history.append(text) }
        return text
    }

    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let n = read(STDIN_FILENO, &byte, 1)
            if n == 1 { return byte }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    private func write(_ text: String) { write(Array(text.utf8)) }

    private func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { _ = Foundation.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
    }
}
