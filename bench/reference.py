#!/usr/bin/env python3
"""The copy workload written the way the original experiment wrote it, as a reference for
`cargo bench --bench copy_workload`: a ProcessPoolExecutor, one task per input line, each
task opening the output for append, writing its pid, psutil's thread count and CPU number,
re-reading the whole input and appending its line.

Prints one JSON object: {"workers": W, "lines": L, "seconds": S, "disorder": D}.
"""
import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import psutil


def task(i, input_path, output_path):
    with open(output_path, "a") as out:
        me = psutil.Process()
        out.write(f"current pid:{os.getpid()}\n")
        out.write(f"total threads:{me.num_threads()}\n")
        out.write(f"CPU number:{me.cpu_num()}\n")
        with open(input_path) as source:
            lines = source.readlines()
        out.write(lines[i])
        out.write("\n")


def disorder(output_path):
    with open(output_path) as f:
        tokens = [line.strip() for line in f if line.startswith("line")]
    return sum(1 for p, token in enumerate(tokens, 1) if token != f"line{p}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--lines", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="copybench-ref-") as scratch:
        input_path = os.path.join(scratch, "input.txt")
        output_path = os.path.join(scratch, "output.txt")
        with open(input_path, "w") as f:
            f.writelines(f"line{i}\n" for i in range(1, args.lines + 1))
        open(output_path, "w").close()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            start = time.monotonic()
            futures = [pool.submit(task, i, input_path, output_path) for i in range(args.lines)]
            for future in futures:
                future.result()
            seconds = time.monotonic() - start
        result = {"workers": args.workers, "lines": args.lines, "seconds": seconds,
                  "disorder": disorder(output_path)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
