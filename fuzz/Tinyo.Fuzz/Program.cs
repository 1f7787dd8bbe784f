using SharpFuzz;
using Tinyo.Fuzz;

// Fuzz harnesses (SharpFuzz + afl++). Each target's oracle: only the project's own error types may escape.
//   Tinyo.Fuzz TARGET                 run under afl-fuzz (input on stdin; SharpFuzz's out-of-process fork server)
//   Tinyo.Fuzz replay TARGET PATH...  run files or directories of inputs once each; exit 1 if any escapes the oracle
//   Tinyo.Fuzz list                   print the targets
//   Tinyo.Fuzz seed init-config DIR   write the init-config seeds (binary messages made by the real encoder)
//   Tinyo.Fuzz seed backup DIR        write the backup seeds (files made by the real writer, and decrypted streams)
if (args.Length == 1 && args[0] == "list")
{
    foreach (var t in Targets.All) Console.WriteLine(t.Name);
    return 0;
}
if (args.Length == 3 && args[0] == "seed" && args[1] == "init-config")
{
    Directory.CreateDirectory(args[2]);
    foreach (var (name, data) in InitConfigTarget.Seeds()) File.WriteAllBytes(Path.Combine(args[2], name), data);
    return 0;
}
if (args.Length == 3 && args[0] == "seed" && args[1] == "backup")
{
    Directory.CreateDirectory(args[2]);
    foreach (var (name, data) in BackupTarget.Seeds()) File.WriteAllBytes(Path.Combine(args[2], name), data);
    return 0;
}
if (args.Length >= 2 && args[0] == "replay")
    return Replay.Run(Targets.Find(args[1]), args.AsSpan(2));
if (args.Length == 1 && Targets.TryFind(args[0], out var target))
{
    Fuzzer.OutOfProcess.Run(stream => target.Run(Input.ReadAll(stream)));
    return 0;
}
Console.Error.WriteLine("usage: Tinyo.Fuzz TARGET | replay TARGET PATH... | list | seed init-config|backup DIR");
return 2;
