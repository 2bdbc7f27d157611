#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Random bytes from the kernel's secure generator, fetched 4 KiB at a time.
///
/// `SystemRandomNumberGenerator` makes one getrandom(2) system call per eight bytes: a filing drew
/// its access token, its tracking code and its request id in eighteen calls. Here one read of
/// /dev/urandom (the same generator; never blocks once the system has booted) fills a buffer that
/// serves about a hundred requests. Bytes are handed out once and zeroed as they go.
public enum SecureRandom {
    private struct Pool: ~Copyable {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var next = 4096
    }

    private static let pool = Mutex(Pool())
    private static let device: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

    /// `count` secure random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }

    /// Fills `target` with secure random bytes.
    public static func fill(_ target: UnsafeMutableRawBufferPointer) {
        guard target.count <= 1024 else {
            // Large requests go straight to the kernel, eight bytes a call.
            var generator = SystemRandomNumberGenerator()
            var index = 0
            while index < target.count {
                let word = generator.next()
                withUnsafeBytes(of: word) { bytes in
                    for byte in bytes where index < target.count {
                        target[index] = byte
                        index += 1
                    }
                }
            }
            return
        }
        pool.withLock { pool in
            if pool.next + target.count > pool.buffer.count {
                refill(&pool.buffer)
                pool.next = 0
            }
            pool.buffer.withUnsafeMutableBytes { buffer in
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[pool.next..<pool.next + target.count])
                target.copyMemory(from: UnsafeRawBufferPointer(slice))
                slice.initializeMemory(as: UInt8.self, repeating: 0)
            }
            pool.next += target.count
        }
    }

    private static func refill(_ buffer: inout [UInt8]) {
        var filled = 0
        if device >= 0 {
            buffer.withUnsafeMutableBytes { raw in
                while filled < raw.count {
                    let got = read(device, raw.baseAddress! + filled, raw.count - filled)
                    if got > 0 {
                        filled += got
                    } else if got < 0, errno == EINTR {
                        continue
                    } else {
                        break
                    }
                }
            }
        }
        if filled < buffer.count {
            // No /dev/urandom (a bare chroot): the standard library's generator.
            var generator = SystemRandomNumberGenerator()
            for index in filled..<buffer.count { buffer[index] = UInt8.random(in: .min ... .max, using: &generator) }
        }
    }

    /// A `RandomNumberGenerator` drawing from the pool (for `Int.random(in:using:)` and the like).
    public struct Generator: RandomNumberGenerator {
        public init() {}

        public mutating func next() -> UInt64 {
            var value: UInt64 = 0
            withUnsafeMutableBytes(of: &value) { SecureRandom.fill($0) }
            return value
        }
    }

    /// A random (version 4) UUID in lower case, e.g. for request ids.
    public static func uuidString() -> String {
        var bytes = Self.bytes(16)
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if [4, 6, 8, 10].contains(index) { text.append(UInt8(ascii: "-")) }
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
