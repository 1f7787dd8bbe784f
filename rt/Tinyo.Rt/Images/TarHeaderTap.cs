namespace Tinyo.Rt.Images;

/// <summary>
/// Sits between the tar stream and <c>System.Formats.Tar.TarReader</c> and watches the header blocks of each entry as
/// the reader pulls them through, to cover what the reader (as of .NET 10) does not:
/// <list type="bullet">
/// <item>header checksums, which it does not verify (Go's archive/tar, hence Docker, does);</item>
/// <item>the size of metadata blocks (PAX 'x'/'g', GNU 'L'/'K'), which it would rent a buffer for up to 2 GiB before
/// noticing the stream is shorter: here anything above <see cref="MaxMetadataBytes"/> fails before it allocates;</item>
/// <item>the raw bytes of PAX records: the reader decodes PAX values as UTF-8 strings, which mangles binary xattr values
/// such as <c>security.capability</c>; the unpacker takes xattr values from the raw block kept here;</item>
/// <item>raw names: the reader decodes names and link targets as UTF-8, replacing invalid bytes; the unpacker takes
/// them from the recorded blocks instead (<see cref="RawName"/>, <see cref="RawLinkName"/>);</item>
/// <item>PAX records whose value contains a newline: the reader splits records at the first newline rather than by
/// their length prefix and rejects them; the copy it is handed has such bytes masked in xattr values.</item>
/// </list>
/// Data sections pass straight through, unrecorded.
/// </summary>
internal sealed class TarHeaderTap(HashingStream inner) : ReadOnlyStream
{
    /// <summary>Largest PAX or GNU long-name block accepted (long names are ≤ 4 KiB, xattr sets a few KiB).</summary>
    public const int MaxMetadataBytes = 1 << 20;

    private const int MaxRecordedBytes = 4 * MaxMetadataBytes;

    private byte[] _rec = new byte[16 * 1024];
    private int _recLen;
    private long _recStart;
    private bool _recording;
    private long _nextHeader;
    private long _paxAt = -1;
    private int _paxLen;
    private long _longNameAt = -1, _longLinkAt = -1, _headerAt = -1;
    private int _longNameLen, _longLinkLen;

    /// <summary>Tar offset of the first header block of the entry last read (its PAX/GNU headers included).</summary>
    public long EntryOffset { get; private set; }

    /// <summary>Tar offset of the header block being examined (for errors raised while reading headers).</summary>
    public long NextHeaderOffset => _nextHeader;

    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }

    /// <summary>Starts watching: the next header block of the archive begins at tar offset <paramref name="headerAt"/>.</summary>
    public void BeginEntry(long headerAt)
    {
        _recording = true;
        _recLen = 0;
        _recStart = inner.Position;
        _nextHeader = Math.Max(headerAt, _recStart);
        EntryOffset = _nextHeader;
        _paxAt = -1;
        _paxLen = 0;
        _longNameAt = _longLinkAt = _headerAt = -1;
    }

    /// <summary>
    /// Copies the raw bytes of the entry last read's name into <paramref name="dest"/> and returns their count (-1 if
    /// longer than <paramref name="dest"/>): the PAX <c>path</c> record, else the GNU long name, else the header's name
    /// field behind its ustar prefix. Names are bytes in tar as on Linux; TarReader's string would have replaced
    /// invalid UTF-8.
    /// </summary>
    public int RawName(Span<byte> dest)
    {
        if (TryPaxValue("path"u8, out var v)) return CopyTo(v, dest);
        if (_longNameAt >= 0) return CopyTo(CString(Abs(_longNameAt, _longNameLen)), dest);
        if (_headerAt < 0) return -1;
        var h = Abs(_headerAt, 512);
        var name = CString(h[..100]);
        var prefix = h.Slice(257, 6).SequenceEqual("ustar\0"u8) ? CString(h.Slice(345, 155)) : default;
        if (prefix.IsEmpty) return CopyTo(name, dest);
        if (prefix.Length + 1 + name.Length > dest.Length) return -1;
        prefix.CopyTo(dest);
        dest[prefix.Length] = (byte)'/';
        name.CopyTo(dest[(prefix.Length + 1)..]);
        return prefix.Length + 1 + name.Length;
    }

    /// <summary>Like <see cref="RawName"/> for the link target: PAX <c>linkpath</c>, GNU long link, header field.</summary>
    public int RawLinkName(Span<byte> dest)
    {
        if (TryPaxValue("linkpath"u8, out var v)) return CopyTo(v, dest);
        if (_longLinkAt >= 0) return CopyTo(CString(Abs(_longLinkAt, _longLinkLen)), dest);
        if (_headerAt < 0) return -1;
        return CopyTo(CString(Abs(_headerAt, 512).Slice(157, 100)), dest);
    }

    /// <summary>
    /// The PAX <c>mtime</c> of the entry last read with full nanosecond precision (TarReader rounds it to 100 ns).
    /// False when absent or not of the form <c>[-]SECONDS[.FRACTION]</c>.
    /// </summary>
    public bool TryPaxMtime(out long seconds, out long nanoseconds)
    {
        seconds = nanoseconds = 0;
        if (!TryPaxValue("mtime"u8, out var v) || v.IsEmpty) return false;
        bool negative = v[0] == (byte)'-';
        if (negative) v = v[1..];
        int dot = v.IndexOf((byte)'.');
        var whole = dot < 0 ? v : v[..dot];
        var frac = dot < 0 ? default : v[(dot + 1)..];
        if (whole.IsEmpty || whole.Length > 18) return false;
        foreach (var c in whole)
        {
            if (c is < (byte)'0' or > (byte)'9') return false;
            seconds = seconds * 10 + (c - '0');
        }
        int digits = 0;
        foreach (var c in frac)
        {
            if (c is < (byte)'0' or > (byte)'9') return false;
            if (digits++ < 9) nanoseconds = nanoseconds * 10 + (c - '0');
        }
        for (; digits < 9; digits++) nanoseconds *= 10;
        if (negative)
        {
            // -1.25 is 1.25 s before the epoch: seconds -2, nanoseconds 750000000.
            seconds = -seconds;
            if (nanoseconds > 0)
            {
                seconds--;
                nanoseconds = 1_000_000_000 - nanoseconds;
            }
        }
        return true;
    }

    private ReadOnlySpan<byte> Abs(long at, int len) => _rec.AsSpan((int)(at - _recStart), len);

    private static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> b)
    {
        int z = b.IndexOf((byte)0);
        return z < 0 ? b : b[..z];
    }

    private static int CopyTo(ReadOnlySpan<byte> src, Span<byte> dest)
    {
        if (src.Length > dest.Length) return -1;
        src.CopyTo(dest);
        return src.Length;
    }

    // The value of the last PAX record whose key is exactly KEY (later records override earlier ones).
    private bool TryPaxValue(ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
    {
        value = default;
        var pax = PaxData;
        if (pax.IsEmpty) return false;
        bool found = false;
        int pos = 0;
        while (TryNextRecord(pax, key, ref pos, out var name, out var val))
        {
            if (name.Start.Value != name.End.Value) continue; // a longer key that merely starts with KEY
            value = pax[val];
            found = true;
        }
        return found;
    }

    /// <summary>The raw data of the PAX 'x' block that preceded the entry last read (empty if none).</summary>
    public ReadOnlySpan<byte> PaxData => _paxAt < 0 ? default : _rec.AsSpan((int)(_paxAt - _recStart), _paxLen);

    public override int Read(Span<byte> buffer)
    {
        if (_recording && _paxAt >= 0 && inner.Position == _paxAt && buffer.Length >= _paxLen && _paxLen > 0)
            return ReadPaxBlock(buffer[.._paxLen]);
        int n = inner.Read(buffer);
        if (_recording && n > 0)
        {
            int skip = 0;
            if (_recLen == 0)
            {
                // Bytes before the first header (padding, or data the caller did not read) are not metadata.
                long chunkStart = inner.Position - n;
                skip = (int)Math.Clamp(_nextHeader - chunkStart, 0, n);
                _recStart = chunkStart + skip;
            }
            if (skip < n)
            {
                Append(buffer[skip..n]);
                Scan();
            }
        }
        return n;
    }

    // The reader asks for the whole PAX block in one call: fill it, keep the raw bytes, and hand the reader a copy in
    // which newlines inside xattr values are masked. TarReader splits records at the first '\n' instead of using their
    // length prefix, so a binary value containing 0x0A (common in capability masks) would otherwise be rejected.
    // Its string values of xattrs are never used; the raw ones recorded here are.
    private int ReadPaxBlock(Span<byte> block)
    {
        int got = 0;
        while (got < block.Length)
        {
            int n = inner.Read(block[got..]);
            if (n == 0) break;
            got += n;
        }
        Append(block[..got]);
        Scan();
        if (got == block.Length) MaskXattrNewlines(block);
        return got;
    }

    private static void MaskXattrNewlines(Span<byte> pax)
    {
        int pos = 0;
        while (pos < pax.Length)
        {
            var rest = pax[pos..];
            int sp = rest.IndexOf((byte)' ');
            if (sp <= 0 || sp > 10) return;
            int len = 0;
            foreach (var c in rest[..sp])
            {
                if (c is < (byte)'0' or > (byte)'9') return;
                len = len * 10 + (c - '0');
            }
            if (len <= sp + 1 || len > rest.Length || rest[len - 1] != (byte)'\n') return;
            var rec = rest[(sp + 1)..(len - 1)];
            int eq = rec.IndexOf((byte)'=');
            if (eq > 0 && rec[..eq].StartsWith("SCHILY.xattr."u8)) rec[(eq + 1)..].Replace((byte)'\n', (byte)' ');
            pos += len;
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_recLen + data.Length > _rec.Length)
        {
            if (_recLen + data.Length > MaxRecordedBytes)
                throw new RtException($"tar headers at offset {EntryOffset}: more than {MaxRecordedBytes} bytes of metadata for one entry");
            Array.Resize(ref _rec, Math.Min(MaxRecordedBytes, Math.Max(_rec.Length * 2, _recLen + data.Length)));
        }
        data.CopyTo(_rec.AsSpan(_recLen));
        _recLen += data.Length;
    }

    // Examines every complete header block recorded so far; stops at the entry's own header (or the end marker).
    private void Scan()
    {
        while (_recording && _nextHeader + 512 <= _recStart + _recLen)
        {
            var h = _rec.AsSpan((int)(_nextHeader - _recStart), 512);
            if (!h.ContainsAnyExcept((byte)0))
            {
                _recording = false; // end-of-archive marker
                return;
            }
            VerifyChecksum(h, _nextHeader);
            long size = ParseSize(h.Slice(124, 12), _nextHeader);
            byte type = h[156];
            if (type is (byte)'x' or (byte)'g' or (byte)'L' or (byte)'K')
            {
                if (size > MaxMetadataBytes)
                    throw new RtException($"tar header at offset {_nextHeader}: metadata block of type '{(char)type}' claims {size} bytes (limit {MaxMetadataBytes})");
                if (type == (byte)'g')
                {
                    _headerAt = _nextHeader;
                    _recording = false; // returned as an entry of its own; the reader consumes its data
                    return;
                }
                if (type == (byte)'x')
                {
                    _paxAt = _nextHeader + 512;
                    _paxLen = (int)size;
                }
                else if (type == (byte)'L')
                {
                    _longNameAt = _nextHeader + 512;
                    _longNameLen = (int)size;
                }
                else
                {
                    _longLinkAt = _nextHeader + 512;
                    _longLinkLen = (int)size;
                }
                _nextHeader += 512 + ((size + 511) & ~511L);
                continue;
            }
            _headerAt = _nextHeader;
            _recording = false; // the entry's own header; its data is not recorded
            return;
        }
    }

    private static void VerifyChecksum(ReadOnlySpan<byte> h, long offset)
    {
        var field = h.Slice(148, 8);
        long stored = 0;
        int i = 0;
        while (i < field.Length && field[i] is (byte)' ' or 0) i++;
        int digits = 0;
        for (; i < field.Length && field[i] is >= (byte)'0' and <= (byte)'7'; i++, digits++) stored = stored * 8 + (field[i] - '0');
        for (; i < field.Length; i++)
            if (field[i] is not ((byte)' ' or 0)) throw new RtException($"tar header at offset {offset}: malformed checksum field");
        if (digits == 0) throw new RtException($"tar header at offset {offset}: malformed checksum field");

        long unsigned = 0, signed = 0;
        for (int j = 0; j < 512; j++)
        {
            byte b = j is >= 148 and < 156 ? (byte)' ' : h[j];
            unsigned += b;
            signed += (sbyte)b;
        }
        if (stored != unsigned && stored != signed)
            throw new RtException($"tar header at offset {offset}: checksum mismatch (corrupt or not a tar stream)");
    }

    // Octal, or GNU base-256 when the high bit of the first byte is set.
    private static long ParseSize(ReadOnlySpan<byte> f, long offset)
    {
        if ((f[0] & 0x80) != 0)
        {
            if ((f[0] & 0x40) != 0) throw new RtException($"tar header at offset {offset}: negative size");
            long x = f[0] & 0x3F;
            for (int i = 1; i < f.Length; i++)
            {
                if (x > (long.MaxValue >> 8)) throw new RtException($"tar header at offset {offset}: size overflows");
                x = (x << 8) | f[i];
            }
            return x;
        }
        long v = 0;
        int k = 0;
        while (k < f.Length && f[k] is (byte)' ' or 0) k++;
        for (; k < f.Length && f[k] is >= (byte)'0' and <= (byte)'7'; k++)
        {
            if (v > (long.MaxValue >> 3)) throw new RtException($"tar header at offset {offset}: size overflows");
            v = v * 8 + (f[k] - '0');
        }
        for (; k < f.Length; k++)
            if (f[k] is not ((byte)' ' or 0)) throw new RtException($"tar header at offset {offset}: malformed size field");
        return v;
    }

    /// <summary>
    /// Enumerates the <c>SCHILY.xattr.NAME=VALUE</c> records of a raw PAX block, values as raw bytes.
    /// Records are "LEN KEY=VALUE\n" with LEN counting the whole record.
    /// </summary>
    public static bool TryNextXattr(ReadOnlySpan<byte> pax, ref int pos, out Range name, out Range value) =>
        TryNextRecord(pax, "SCHILY.xattr."u8, ref pos, out name, out value);

    /// <summary>Whether a raw PAX block has a record whose key starts with <paramref name="prefix"/>.</summary>
    public static bool HasKeyWithPrefix(ReadOnlySpan<byte> pax, ReadOnlySpan<byte> prefix)
    {
        int pos = 0;
        return TryNextRecord(pax, prefix, ref pos, out _, out _);
    }

    /// <summary>Finds the next record whose key starts with <paramref name="prefix"/>; <paramref name="name"/> is the
    /// rest of the key.</summary>
    public static bool TryNextRecord(ReadOnlySpan<byte> pax, ReadOnlySpan<byte> prefix, ref int pos, out Range name, out Range value)
    {
        while (pos < pax.Length)
        {
            var rest = pax[pos..];
            int sp = rest.IndexOf((byte)' ');
            if (sp <= 0 || sp > 10) throw new RtException("malformed PAX record length");
            int len = 0;
            foreach (var c in rest[..sp])
            {
                if (c is < (byte)'0' or > (byte)'9') throw new RtException("malformed PAX record length");
                len = len * 10 + (c - '0');
            }
            if (len <= sp + 1 || len > rest.Length || rest[len - 1] != (byte)'\n') throw new RtException("malformed PAX record");
            int recStart = pos + sp + 1, recEnd = pos + len - 1;
            pos += len;
            var rec = pax[recStart..recEnd];
            int eq = rec.IndexOf((byte)'=');
            if (eq < 0) throw new RtException("malformed PAX record (no '=')");
            if (rec[..eq].StartsWith(prefix))
            {
                name = new Range(recStart + prefix.Length, recStart + eq);
                value = new Range(recStart + eq + 1, recEnd);
                return true;
            }
        }
        name = value = default;
        return false;
    }


}
