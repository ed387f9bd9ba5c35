// TrainingProgress: how `hat train` shows its events: a redrawn progress bar on a terminal, plain
// lines in pipes and logs (every --log-every steps), and durations as "1h02m" (also used by
// `hat report train`). Moved out of Train.swift with the rest of the commands' shared output.

import Foundation
import HATModel

/// Turns training events into a progress bar (terminal) or plain lines (pipes, logs).
public final class ProgressDisplay {
    public let onTerminal = isatty(STDOUT_FILENO) != 0
    public let logEvery: Int
    private var lineOpen = false

    public init(logEvery: Int) { self.logEvery = logEvery }

    public func show(_ event: TrainingEvent) {
        switch event {
        case let .started(trainBytes, trainRows, validationRows, parameters, resumedAt):
            let resumed = resumedAt.map { ", resuming at step \($0)" } ?? ""
            say("training: \(parameters) parameters, \(trainBytes) training bytes in \(trainRows) rows, \(validationRows) validation rows\(resumed)")
        case .step(let m):
            let remaining = Double(m.totalSteps - m.step) * m.elapsedSeconds / Double(max(m.step, 1))
            var text = String(format: "step %d/%d  loss %.4f  bpb %.3f  lr %.2e  |g| %.2f  %.0f B/s  ETA %@",
                              m.step, m.totalSteps, m.loss, m.bitsPerByte, m.learningRate, m.gradientNorm,
                              m.bytesPerSecond, formatDuration(remaining))
            if let align = m.align, let cosine = m.alignCosine, let distill = m.distill {
                text += String(format: "  align %.3f (cos %.3f)  distill %.3f", align, cosine, distill)
            }
            if onTerminal {
                let width = 24, filled = Int(Double(width) * Double(m.step) / Double(max(m.totalSteps, 1)))
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                print("\r\u{1B}[2K[\(bar)] " + text, terminator: "")
                fflush(nil)
                lineOpen = true
            } else if m.step % logEvery == 0 || m.step == m.totalSteps {
                print(text)
                fflush(nil)
            }
        case let .validation(step, result):
            var line = String(format: "validation at step %d: %.4f bits per byte, %.2f bytes per position (%d bytes, %.1f s)",
                              step, result.bitsPerByte, result.bytesPerPosition, result.predictedBytes, result.seconds)
            if let t = result.teacher {
                line += String(format: "; oracle decoder %.4f, teacher %.4f bits per byte; alignment after %d blocks %.3f (cos %.3f)",
                               t.oracleBitsPerByte, t.teacherBitsPerByte, t.alignBlocks, t.align, t.alignCosine)
            }
            say(line)
        case let .checkpoint(step, path):
            say("checkpoint at step \(step): \(path)")
        case let .stopped(step, reason):
            say("stopped at step \(step): \(reason)")
        }
    }

    private func say(_ text: String) {
        finishLine()
        print(text)
        fflush(nil)
    }

    public func finishLine() {
        if lineOpen {
            print("")
            lineOpen = false
        }
    }
}

/// A duration as "1h02m", "3m05s" or "42s" ("?" when unknown).
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite && seconds >= 0 else { return "?" }
    let s = Int(seconds)
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
