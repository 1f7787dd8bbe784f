// Fuzz harnesses (SharpFuzz + afl++). Each target's oracle: only the project's own error types may escape.
Console.Error.WriteLine("usage: Tinyo.Fuzz TARGET (no targets yet)");
return 2;
