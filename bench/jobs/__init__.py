"""Jobs the benchmarks run: a location module of their own, so examples/hello stays an example."""
