"""Memory taken through a C library: zlib's compressor and decompressor
state (zlib asks CPython's raw allocator), and the buffers they fill."""
import time
import zlib

start = time.perf_counter()
cpu_start = time.process_time()  # every thread of the process
data = bytes(range(256)) * 4096  # 1 MiB
for _ in range(60):
    c = zlib.compressobj(9)
    packed = c.compress(data) + c.flush()
    d = zlib.decompressobj()
    assert len(d.decompress(packed)) == len(data)
print("elapsed %.6f" % (time.perf_counter() - start))
print("cpu %.6f" % (time.process_time() - cpu_start))
