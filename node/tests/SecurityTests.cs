using System.Security.Cryptography;
using Tinyo.Node.Security;

namespace Tinyo.Node.Tests;

[Trait("Category", "Security")]
public sealed class SecurityTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyonode-sec-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private sealed class FakeClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void ThrottleLocksOutAfterFreeAttemptsAndBacksOff()
    {
        var clock = new FakeClock();
        var t = new LoginThrottle(clock);
        for (var i = 0; i < LoginThrottle.FreeAttempts; i++)
        {
            Assert.Null(t.RetryAfter("admin", "1.2.3.4"));
            t.Failed("admin", "1.2.3.4");
        }
        Assert.Null(t.RetryAfter("admin", "1.2.3.4"));
        t.Failed("admin", "1.2.3.4");
        Assert.Equal(TimeSpan.FromSeconds(2), t.RetryAfter("admin", "1.2.3.4"));
        Assert.Equal(TimeSpan.FromSeconds(2), t.RetryAfter("other-user", "1.2.3.4")); // the address is locked
        Assert.Null(t.RetryAfter("admin", "5.6.7.8"));                                // but not the user elsewhere
        clock.Now += TimeSpan.FromSeconds(3);
        Assert.Null(t.RetryAfter("admin", "1.2.3.4"));
        t.Failed("admin", "1.2.3.4");
        Assert.Equal(TimeSpan.FromSeconds(4), t.RetryAfter("admin", "1.2.3.4"));
        for (var i = 0; i < 30; i++) t.Failed("admin", "1.2.3.4");
        Assert.Equal(TimeSpan.FromSeconds(300), t.RetryAfter("admin", "1.2.3.4"));
        t.Succeeded("admin", "1.2.3.4");
        Assert.Null(t.RetryAfter("admin", "1.2.3.4"));
    }

    [Fact]
    public void OneAddressFailingOncePerWindowCannotLockTheUserOutElsewhere()
    {
        // The probe's attack: one wrong password per lock window from one address, for an hour.
        var clock = new FakeClock();
        var t = new LoginThrottle(clock);
        for (var i = 0; i < 200; i++)
        {
            if (t.RetryAfter("admin", "10.0.0.66") is { } wait) clock.Now += wait;
            t.Failed("admin", "10.0.0.66");
            Assert.Null(t.RetryAfter("admin", "10.0.0.7"));
        }
        Assert.NotNull(t.RetryAfter("admin", "10.0.0.66"));
        // Guessing spread over many addresses still slows the user down everywhere (the per-user limit)...
        var spread = new LoginThrottle(clock);
        for (var i = 0; i < LoginThrottle.FreeUserAttempts; i++) spread.Failed("admin", $"10.1.0.{i}");
        Assert.Null(spread.RetryAfter("admin", "10.0.0.7"));
        spread.Failed("admin", "10.1.0.99");
        Assert.NotNull(spread.RetryAfter("admin", "10.0.0.7"));
        // ...and the node never consults the throttle for root on its unix socket (NodeApi's login; see TioFlowTests).
    }

    [Fact]
    public void PasswordsHashAndVerify()
    {
        var u = Passwords.Hash("alice", "correct horse", 1000);
        Assert.True(Passwords.Verify(u, "correct horse"));
        Assert.False(Passwords.Verify(u, "correct horsf"));
        Assert.NotEqual(u.Salt, Passwords.Hash("alice", "correct horse", 1000).Salt);
        // Each user is a new id: a user removed and created again under the same name is not the same user.
        Assert.Matches("^[0-9a-f]{32}$", u.Id);
        Assert.NotEqual(u.Id, Passwords.Hash("alice", "correct horse", 1000).Id);
        Assert.DoesNotContain("correct horse", System.Text.Json.JsonSerializer.Serialize(u, Store.StoreJson.Default.StoredUser));
    }

    [Fact]
    public void TokensAreRandomAndStoredHashed()
    {
        var a = Tokens.New();
        Assert.StartsWith("tio_", a);
        Assert.Equal(4 + 43, a.Length); // 256 bits, base64url without padding
        Assert.NotEqual(a, Tokens.New());
        Assert.Equal(64, Tokens.Id(a).Length);
        Assert.DoesNotContain(a[4..], Tokens.Id(a));
    }

    [Fact]
    public void SecretBoxEncryptsBindsTheNameAndKeepsItsKeyPrivate()
    {
        var keyFile = Path.Combine(dir, "node.key");
        var box = SecretBox.Open(keyFile);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsLinux() ? File.GetUnixFileMode(keyFile) : 0);
        var value = "hunter2-hunter2"u8.ToArray();
        var s = box.Seal("db", value);
        Assert.DoesNotContain("hunter2", s.Ciphertext);
        Assert.Equal(value, box.Open("db", s));
        Assert.Equal(value, SecretBox.Open(keyFile).Open("db", s)); // the key persists
        Assert.Throws<NodeException>(() => box.Open("other-name", s));
        var tampered = s with { Ciphertext = Convert.ToBase64String(Convert.FromBase64String(s.Ciphertext).Select(b => (byte)(b ^ 1)).ToArray()) };
        Assert.Throws<NodeException>(() => box.Open("db", tampered));
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.Contains("chmod 600", Assert.Throws<NodeException>(() => SecretBox.Open(keyFile)).Message);
    }
}
