using BenchmarkDotNet.Running;

// Benchmarks compare Tinyo against the real peer in the same run; see docs/benchmarks.md.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
