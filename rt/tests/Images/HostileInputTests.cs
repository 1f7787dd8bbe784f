using System.Text;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Tests.Images;

/// <summary>
/// Mutation passes over the parsers that see registry and user input: anything malformed must surface as an
/// RtException (the fuzz oracle), never another exception type.
/// </summary>
[Trait("Category", "Security")]
public class HostileInputTests
{
    private const string Valid = """{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":394},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":1029179}],"manifests":[{"digest":"x","platform":{"os":"linux"}}]}""";

    private static byte[] Mutate(Random rng, byte[] input)
    {
        var b = (byte[])input.Clone();
        var n = rng.Next(1, 6);
        for (var i = 0; i < n; i++)
        {
            var pos = rng.Next(b.Length);
            b[pos] = rng.Next(4) switch
            {
                0 => (byte)rng.Next(256),
                1 => (byte)"{}[]\",:0-e\\"[rng.Next(11)],
                2 => 0,
                _ => (byte)(b[pos] ^ (1 << rng.Next(8))),
            };
        }
        if (rng.Next(8) == 0) Array.Resize(ref b, rng.Next(b.Length));
        return b;
    }

    [Fact]
    public void MutatedManifestsFailOnlyWithRtException()
    {
        var rng = new Random(7);
        var valid = Encoding.UTF8.GetBytes(Valid);
        var accepted = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var m = Mutate(rng, valid);
            try
            {
                Manifest.Parse(m, i % 2 == 0 ? null : MediaTypes.OciIndex, "fuzz");
                accepted++;
            }
            catch (RtException)
            {
            }
        }
        Assert.True(accepted > 0); // some mutations (e.g. inside sizes) stay valid: the pass exercises success paths too
    }

    [Fact]
    public void MutatedConfigsFailOnlyWithRtException()
    {
        var rng = new Random(11);
        var valid = """{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}},"Labels":{"a":"b"}},"rootfs":{"type":"layers","diff_ids":["sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]}}"""u8.ToArray();
        for (var i = 0; i < 20_000; i++)
        {
            try
            {
                ImageConfig.Parse(Mutate(rng, valid), "fuzz");
            }
            catch (RtException)
            {
            }
        }
    }

    [Fact]
    public void RandomReferencesFailOnlyWithRtException()
    {
        var rng = new Random(3);
        const string alphabet = "abcAB09:/@._-[]sha256\u00e9 \t";
        for (var i = 0; i < 50_000; i++)
        {
            var chars = new char[rng.Next(0, 40)];
            for (var j = 0; j < chars.Length; j++) chars[j] = alphabet[rng.Next(alphabet.Length)];
            if (ImageReference.TryParse(new string(chars), out var r))
                Assert.Equal(r!.ToString(), ImageReference.Parse(r.ToString()).ToString()); // canonical form round-trips
        }
    }
}
