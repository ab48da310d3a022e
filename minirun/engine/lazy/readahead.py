"""Read-ahead: the spans of lazy layers that a start is about to read,
fetched before it asks.

A container's read of a missing span waits for a round trip and for the
span; a start that misses hundreds of spans one after another (the
dynamic loader's page faults, Python's imports) waits for each in turn.
What is fetched ahead, several requests at once, is not waited for, but
what is fetched and never read takes the link from what is: reading ahead
a whole big library can cost a start more than it saves.  So, when a
file is opened:

- a small file (up to SMALL) is fetched whole: it is about to be read
  whole (Python's modules, configuration);
- a shared library or program (ELF) gets what the dynamic linker reads
  before anything runs: its headers, the dynamic symbol, string, hash and
  version tables, the relocations, and every writable section (the
  relocations are applied there, touching every page).  Its code,
  read-only data and unwind tables are read where the program touches
  them, and the static symbol table (.symtab, never loaded) not at all;
- any other file: its first span.

Then, while a layer is read, a read that misses a span a little after the
one missed before fetches the NEXT spans after it (a file read through in
order; a library's code, run in the order it was linked; a package's
modules, in the order the tar holds them); after MANY misses in a layer,
all its windows come at once.  The spans a recorded start read (`lazy
record`) are queued before the mount is ready.  A container's own read of
a queued span does not wait for the queue: whoever comes first inflates
it (index.Layer).

See: the System V ABI's ELF chapters (section header, dynamic linking),
elf(5).
"""
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

PARALLEL = 4          # requests at once
RUN = 4               # consecutive spans fetched with one request
SMALL = 4 << 20       # files fetched whole when opened
NEXT = 2              # spans read ahead of reads that move forward
STRIDE = 16           # ... by at most this many spans from the last missed
MANY = 8              # misses in a layer before all its windows are fetched

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")      # ELF64, little-endian
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SHF_WRITE, _SHF_ALLOC = 1, 2
_SHT_NOBITS, _SHT_DYNSYM = 8, 11
# what ld.so reads: hash, dynamic, relocations (RELA, REL, RELR), versions
_LOADER = {5, 6, 4, 9, 19, 0x6ffffff6, 0x6ffffffd, 0x6ffffffe, 0x6fffffff}


def loader_ranges(head: bytes, read) -> list[tuple[int, int]] | None:
    """The [start, end) byte ranges of an ELF file that the dynamic linker
    reads, from its first bytes ``head`` and ``read(offset, size)``; None
    for anything that is not a 64-bit little-endian ELF file with section
    headers."""
    if len(head) < _EHDR.size or head[:4] != b"\x7fELF" or head[4:6] != b"\x02\x01":
        return None
    fields = _EHDR.unpack_from(head)
    shoff, shentsize, shnum = fields[6], fields[11], fields[12]
    if not shnum or shentsize != _SHDR.size:
        return None
    table = read(shoff, shnum * shentsize)
    if len(table) != shnum * shentsize:
        return None
    sections = [_SHDR.unpack_from(table, i * shentsize) for i in range(shnum)]
    wanted = {i for i, s in enumerate(sections) if s[2] & _SHF_ALLOC and s[1] != _SHT_NOBITS
              and (s[1] in _LOADER or s[1] == _SHT_DYNSYM or s[2] & _SHF_WRITE)}
    wanted |= {sections[i][6] for i in list(wanted)              # their string tables
               if sections[i][1] == _SHT_DYNSYM and sections[i][6] < shnum}
    return [(0, len(head))] + sorted((sections[i][4], sections[i][4] + sections[i][5])
                                     for i in wanted if sections[i][5])


class Readahead:
    """A pool of PARALLEL fetchers that reads spans ahead, in the order
    they are asked for."""

    def __init__(self, workers: int = PARALLEL):
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="readahead")
        self.queued: set = set()
        self.lock = threading.Lock()
        self.last_miss: dict = {}

    def opened(self, layer, name: str) -> None:
        """File ``name`` of ``layer`` was opened."""
        spans = layer.spans(name)
        if not spans:
            return
        if layer.entry(name)["size"] <= SMALL or len(spans) == 1:
            self.spans(layer, spans)
        else:
            self.pool.submit(self._examine, layer, name)

    def missed(self, layer, i: int) -> None:
        """A read found span ``i`` of ``layer`` missing."""
        last, count = self.last_miss.get(id(layer), (-1, 0))
        self.last_miss[id(layer)] = i, count + 1
        if count + 1 == MANY:
            self.pool.submit(self._windows, layer)
        if last < i <= last + STRIDE:
            self.spans(layer, range(i + 1, min(i + 1 + NEXT, len(layer.done))))

    def spans(self, layer, spans) -> None:
        """Queue ``spans`` (in order) where missing, in runs of up to RUN
        consecutive spans, one request each."""
        run: list[int] = []
        with self.lock:
            for i in spans:
                if layer.done[i] or (id(layer), i) in self.queued:
                    continue
                self.queued.add((id(layer), i))
                if run and (i != run[-1] + 1 or len(run) == RUN):
                    self.pool.submit(self._fetch, layer, range(run[0], run[-1] + 1))
                    run = []
                run.append(i)
            if run:
                self.pool.submit(self._fetch, layer, range(run[0], run[-1] + 1))

    def _examine(self, layer, name: str) -> None:
        """A big file: the loader's part if it is ELF, else its start."""
        try:
            head = layer.read(name, 0, _EHDR.size)
            ranges = loader_ranges(head, lambda offset, size: layer.read(name, offset, size))
        except OSError:
            return                    # the container's own read will say it
        base = layer.entry(name)["offset"]
        if ranges is None:
            self.spans(layer, layer.spans(name)[:1])
            return
        for start, end in ranges:
            self.spans(layer, range(layer.span_of(base + start),
                                    layer.span_of(base + end - 1) + 1))

    @staticmethod
    def _windows(layer) -> None:
        try:
            layer.windows()
        except OSError:
            pass

    @staticmethod
    def _fetch(layer, spans: range) -> None:
        try:
            layer.fetch(spans)
        except OSError:
            pass                      # the container's own read will say it
