"""ThreadGraph's spelling, as its tutorial enables it (without
setFilter): ProcessProfiler(default_log_path=DIR, profile="python"),
trackStack(), enableForkedProfile(), enable(); 30 MiB kept in main();
the interpreter's exit ends the files."""
import sys

from stackwatch.memory import ProcessProfiler

kept = []


def main():
    profiler = ProcessProfiler(default_log_path=sys.argv[1],
                               profile="python")
    profiler.enableForkedProfile()
    profiler.trackStack()
    profiler.enable()
    kept.extend(bytes(4096) for _ in range(30 * 256))  # alloc


if __name__ == "__main__":
    main()
