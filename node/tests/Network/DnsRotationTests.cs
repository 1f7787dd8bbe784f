using System.Net;
using Tinyo.Node.Network;

namespace Tinyo.Node.Tests.Network;

/// <summary>Round robin survives resolvers that ask A and AAAA for every look-up: only A questions turn it.</summary>
public sealed class DnsRotationTests
{
    [Fact]
    public async Task Only_A_questions_turn_the_rotation()
    {
        var t = new DnsNameTable();
        t.SetApp("db", [new DnsReplica(1, IPAddress.Parse("10.88.0.2"), true), new DnsReplica(2, IPAddress.Parse("10.88.0.3"), true)]);
        await using var s = new DnsServer(t);
        var firsts = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            var a = await s.AnswerAsync(Query("db", 1), 512, false, CancellationToken.None);
            var aaaa = await s.AnswerAsync(Query("db", 28), 512, false, CancellationToken.None);
            Assert.NotNull(aaaa);
            firsts.Add(string.Join(".", a![^4..]));
        }
        // The first answer record's RDATA is the last 4 bytes only with one record; read both orders instead.
        Assert.Equal(2, t.Lookup("db", rotate: false)!.Length);
        var x = t.Lookup("db")![0];
        var y = t.Lookup("db")![0];
        Assert.NotEqual(x, y);
        Assert.Equal(t.Lookup("db", rotate: false)![0], t.Lookup("db", rotate: false)![0]);
        Assert.Equal(2, firsts.Distinct().Count()); // the last record alternates between the two addresses
    }

    private static byte[] Query(string name, ushort type)
    {
        var q = new List<byte> { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.'))
        {
            q.Add((byte)label.Length);
            q.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        q.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        return [.. q];
    }
}
