// AccessLogAndErrors: the middleware around every route. It turns any error into an OpenAI-style
// JSON error response (APIError as it is; Hummingbird's own, e.g. an unknown route, by its
// status; anything else 500) so a client always gets JSON, and it logs one line per request:
// method, path, status, body bytes sent, duration (streamed bodies when they end).

import Foundation
import Hummingbird

struct AccessLogAndErrors: RouterMiddleware {
    typealias Context = BasicRequestContext
    let log: @Sendable (String) -> Void

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let line: @Sendable (HTTPResponse.Status, Int) -> Void = { [log] status, bytes in
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            log("\(request.method) \(request.uri.path) \(status.code) \(bytes) B \(String(format: "%.3f", seconds)) s")
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.errorResponse(error)
        }
        if let length = response.body.contentLength {
            line(response.status, length)
            return response
        }
        let body = response.body
        let status = response.status
        response.body = ResponseBody { writer in
            let counting = CountingWriter(base: writer)
            defer { line(status, counting.counter.count) }
            try await body.write(counting)
        }
        return response
    }

    static func errorResponse(_ error: Error) -> Response {
        let apiError: APIError
        switch error {
        case let error as APIError: apiError = error
        case let error as HTTPError:
            apiError = APIError(status: error.status.code, error.body ?? error.status.reasonPhrase,
                                type: error.status.code >= 500 ? "server_error" : "invalid_request_error")
        case is CancellationError:
            apiError = APIError(status: 499, "the request was cancelled", type: "cancelled")
        default:
            apiError = APIError(status: 500, "\(error)", type: "server_error")
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = apiError.retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        let data = (try? jsonEncoder.encode(apiError.body)) ?? Data("{\"error\":{\"message\":\"error\"}}".utf8)
        return Response(status: .init(code: apiError.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

final class ByteCount: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    func add(_ n: Int) { lock.lock(); total += n; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return total }
}

/// Passes writes on and counts their bytes.
struct CountingWriter: ResponseBodyWriter {
    var base: any ResponseBodyWriter
    let counter = ByteCount()

    mutating func write(_ buffer: ByteBuffer) async throws {
        counter.add(buffer.readableBytes)
        try await base.write(buffer)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await base.finish(trailingHeaders)
    }
}
