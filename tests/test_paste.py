"""The reading step for pasted ``info network`` text (parse/paste.py) and the one decoder.

The corpus (tests/paste_corpus.py) makes mechanical pasted forms of every real capture; each
must read to the topology of the exact text, or say what it could not read: never a different
topology in silence.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qnetinspect.models import Topology
from qnetinspect.parse import parse_info_network
from qnetinspect.parse.decode import decode_text
from qnetinspect.parse.paste import looks_pasted, normalize_paste, unreadable_reason
from tests.paste_corpus import (
    BLOCK,
    COMBINED,
    ENCODING,
    GUEST_LINE,
    INNER,
    OUTER,
    WRAP,
    captures,
    hotplug_pastes,
    render,
    single_artifacts,
)

CAPTURES = list(captures())


def _read(data: bytes) -> Topology:
    return parse_info_network(decode_text(data), pasted=True)


def _same_or_reported(got: Topology, exact: Topology, what: str) -> None:
    if (got.hubs, got.clients) == (exact.hubs, exact.clients):
        return  # lines left unparsed besides are reported (unparsed-lines): never silent
    # a different reading is allowed only when the reader says what it could not read
    assert got.unparsed or unreadable_reason(got) is not None, what


def test_exact_capture_text_passes_through_unchanged() -> None:
    """Every capture's exact text reads the same with pasted=True, with nothing removed."""
    for name, text in CAPTURES:
        exact = parse_info_network(text)
        assert parse_info_network(text, pasted=True) == exact, name
        assert not looks_pasted(text), name
        lines = [(no, ln) for no, ln in enumerate(text.replace("\r\n", "\n").split("\n"), 1) if ln]
        read = normalize_paste(text)
        assert list(read.lines) == lines and not read.removed and not read.notes, name


def test_every_artifact_alone_and_combined_reads_to_the_original_topology() -> None:
    """Each kind of pasted text, alone and combined, of every capture reads to the topology
    of the exact text, with no line left unparsed."""
    variants = [*single_artifacts(), *COMBINED]
    for name, text in CAPTURES:
        exact = parse_info_network(text)
        for layers, enc in variants:
            got = _read(render(text, layers, enc))
            what = f"{name} {layers} {enc}"
            assert (got.hubs, got.clients) == (exact.hubs, exact.clients), what
            if "guest-output" in layers:  # the console line is reported, nothing else
                assert [u.text for u in got.unparsed] == [GUEST_LINE], what
            else:
                assert got.unparsed == exact.unparsed, what


_ORDERED = st.tuples(
    st.lists(st.sampled_from(sorted(INNER)), max_size=2, unique=True),
    st.lists(st.sampled_from(sorted(WRAP)), max_size=1),
    st.lists(st.sampled_from(sorted(BLOCK)), max_size=1),
    st.lists(st.sampled_from(sorted(OUTER)), max_size=1),
    st.sampled_from(sorted(ENCODING)),
)


@settings(max_examples=300, deadline=None)
@given(capture=st.sampled_from(CAPTURES), ordered=_ORDERED, data=st.data())
def test_any_mix_of_artifacts_reads_the_same_or_says_why(
    capture: tuple[str, str],
    ordered: tuple[list[str], list[str], list[str], list[str], str],
    data: st.DataObject,
) -> None:
    """Property: any mix of paste artifacts gives the original topology, or reports the lines
    it could not read; never a different topology in silence."""
    name, text = capture
    inner, wrap, block, outer, enc = ordered
    layers = [*inner, *wrap, *block, *outer]
    if data.draw(st.booleans()):  # also in any order (a mail client wraps quoted lines ...)
        layers = data.draw(st.permutations(layers))
    got = _read(render(text, layers, enc))
    _same_or_reported(got, parse_info_network(text), f"{name} {layers} {enc}")


@settings(max_examples=300, deadline=None)
@given(capture=st.sampled_from(CAPTURES), data=st.data())
def test_every_line_is_parsed_removed_or_unparsed(
    capture: tuple[str, str], data: st.DataObject
) -> None:
    """Line accounting: each non-blank input line is read, removed with a reason, or listed as
    unparsed, by its original line number."""
    _, text = capture
    layers = data.draw(st.lists(st.sampled_from(sorted({*INNER, *BLOCK, *OUTER} - {"virsh-json"})),
                                max_size=3, unique=True))
    pasted = render(text, layers, "lf").decode()
    junk = data.draw(st.sampled_from(["", "login: root\n", "Some prose here.\n"]))
    pasted = junk + pasted + junk
    got = parse_info_network(pasted, pasted=True)
    read = {c.line for c in got.iter_clients()} | {h.line for h in got.hubs}
    read |= {p.line for h in got.hubs for p in h.ports}
    accounted = read | {u.line for u in got.unparsed} | {u.line for u in got.removed}
    lines = pasted.split("\n")
    for no, line in enumerate(lines, start=1):
        if not line.strip() or "filters:" in line or "type=filter-" in line:
            continue  # filter headers and filter lines belong to their client (no line kept)
        assert no in accounted, (no, line, layers)
    assert all(u.reason for u in (*got.unparsed, *got.removed))


def test_several_outputs_read_the_last_and_say_so() -> None:
    """Two outputs split by a command echo: the last is read, the first removed, with a note."""
    before = "hub 0\n \\ hub0port0: a.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
    after = ("n1: index=0,type=nic,model=e1000,macaddr=52:54:00:ab:cd:ef\n"
             " \\ u1: index=0,type=user,net=10.0.2.0,restrict=off\n")
    text = f"(qemu) info network\n{before}(qemu) info network\n{after}"
    got = parse_info_network(text, pasted=True)
    assert [c.name for c in got.clients] == ["n1"] and not got.hubs
    assert any("2 outputs" in n for n in got.notes)
    assert {u.line for u in got.removed if "earlier output" in u.reason} == {2, 3}


def test_prose_before_the_echo_is_not_an_output() -> None:
    """A sentence before the command echo stays a line not understood, not 'an earlier
    output' (only QEMU's own lines make an output)."""
    text = ("Note: this is what the monitor says\n(qemu) info network\n"
            "n0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n")
    got = parse_info_network(text, pasted=True)
    assert [c.name for c in got.clients] == ["n0"]
    assert [u.line for u in got.unparsed] == [1] and not any("outputs" in n for n in got.notes)


def test_a_repeated_hub_header_alone_is_never_a_split() -> None:
    """Without a prompt, echo or banner between them, two 'hub 0' headers are one listing (a
    sign of a forged listing for the consistency check, not of two pastes)."""
    text = ("hub 0\n \\ hub0port1: #net1: index=0,type=user,net=10.0.2.0,restrict=off  \n"
            "hub 0\n \\ hub0port0: e.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n")
    got = parse_info_network(text, pasted=True)
    assert [h.id for h in got.hubs] == [0, 0]
    assert not any("outputs" in n for n in got.notes) and not got.removed


def test_qemu_replies_are_read_exactly() -> None:
    """pasted=False (live replies, captures): no heuristic, so a string a VM controls cannot
    trigger one: a quoted, indented or prompted line stays unparsed."""
    nic = "n0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
    assert parse_info_network("    " + nic).unparsed
    assert [c.name for c in parse_info_network("(qemu) " + nic).clients] == ["(qemu) n0"]
    for text in ("    " + nic, "(qemu) " + nic, "> " + nic):
        got = parse_info_network(text, pasted=True)
        assert [c.name for c in got.clients] == ["n0"] and not got.unparsed


def test_qmp_json_reply_and_error_reply() -> None:
    """virsh without --hmp: a JSON reply is unwrapped; an error reply is unreadable with QEMU's
    message as the reason."""
    ok = ('{"return":"n0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\\r\\n",'
          '"id":"libvirt-9"}')
    got = parse_info_network(ok, pasted=True)
    assert [c.name for c in got.clients] == ["n0"] and got.notes
    err = ('{"id": "libvirt-9", "error": {"class": "CommandNotFound", '
           '"desc": "The command info network has not been found"}}')
    reason = unreadable_reason(parse_info_network(err, pasted=True))
    assert reason is not None and "has not been found" in reason


def test_decoder_bom_crlf_cr_and_bad_utf8() -> None:
    """The one decoder: BOM dropped, CRLF and CR end lines, invalid UTF-8 never raises."""
    assert decode_text(b"\xef\xbb\xbfa\r\nb\rc\n") == "a\nb\nc\n"
    assert decode_text(b"a\xff\xfeb") == "a\ufffd\ufffdb"


def test_unreadable_reasons() -> None:
    """Nothing read: empty text, or the first line not understood, is named."""
    assert unreadable_reason(parse_info_network("", pasted=True)) == (
        "no network client read: the text is empty"
    )
    assert unreadable_reason(parse_info_network(""), empty_ok=True) is None
    reason = unreadable_reason(parse_info_network("error: failed to get domain 'x'\n", pasted=True))
    assert reason is not None and "line 1" in reason and "failed to get domain" in reason


OLD_FORMATS = {
    "vlan (before 1.2)": (
        "VLAN 0 devices:\n  user.0: net=10.0.2.0,restrict=off\n"
        "  socket.0: socket: fd=5 (cloned mcast=230.0.0.1:1234)\n"
        "  e1000.0: model=e1000,macaddr=52:54:00:12:34:56\n"
        "Devices not on any VLAN:\n"
        "  net0: net=10.0.2.0,restrict=off peer=nic0\n"
        "  nic0: model=virtio-net-pci,macaddr=52:54:00:12:34:57 peer=net0\n"
    ),
    "hub without port names (1.5 to 2.x)": (
        "hub 0\n \\ user.0: index=0,type=user,net=10.0.2.0,restrict=off\n"
        " \\ tap.0: index=0,type=tap,ifname=tap0,script=/etc/qemu-ifup,downscript=no\n"
        " \\ e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
    ),
}


def test_older_formats_pasted_read_the_same() -> None:
    """QEMU 1.x text (VLAN sections, hubs without port names) pasted indented, quoted, with
    prompts or CRLF reads to the same topology as printed."""
    for name, text in OLD_FORMATS.items():
        exact = parse_info_network(text)
        assert not exact.unparsed and (exact.hubs or exact.clients), name
        for layers in (["indent-4"], ["mail-quote"], ["trailing-spaces", "qemu-prompt-echo"],
                       ["list-item"], ["mail-quote-2", "earlier-output"]):
            for enc in ("lf", "crlf", "cr"):
                got = _read(render(text, layers, enc))
                what = f"{name} {layers} {enc}"
                assert (got.hubs, got.clients, got.dialect) == (
                    exact.hubs, exact.clients, exact.dialect), what
                assert not got.unparsed, what


_PIECES = [
    "hub 0", " \\ ", "\\", "> ", "(qemu) ", "qm> ", "info network", "info usernet", "```",
    "filters:", "  - ", "- ", "1. ", "\t", "\u00a0", "\ufeff", "\r", "\n", "\n", ":", ": ", ",",
    "=", "type=nic,", "index=0,", '{"return": "', '"}', "hub0port0: ", "e1000.0: ", "x" * 70,
    "VLAN 0 devices:", "Devices not on any VLAN:", " peer=", "   ",
]


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=60))
def test_any_text_of_paste_pieces_reads_without_error(pieces: list[str]) -> None:
    """Fuzz: any mix of paste artifacts and QEMU fragments reads without raising, every
    unparsed or removed line has a reason, and nothing read comes with a reason."""
    text = "".join(pieces)
    got = parse_info_network(decode_text(text.encode()), pasted=True)
    assert all(u.reason and u.line >= 1 for u in (*got.unparsed, *got.removed))
    if not (got.hubs or got.clients):
        assert unreadable_reason(got) is not None


# Shapes met in real posts (a README in markdown, reStructuredText docs, a mail thread quoted
# twice and wrapped, a quote box, an indented example followed by other monitor commands).
REAL_SHAPES = {
    "markdown README": (
        "In the monitor, `info network` shows the NIC model:\n```\n(qemu) info network\n"
        "hub 0\n\\ hub0port1: user.0: index=0,type=user,net=10.0.2.0,restrict=off\n"
        "\\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n```\n",
        "hub 0\n \\ hub0port1: user.0: index=0,type=user,net=10.0.2.0,restrict=off\n"
        " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n",
    ),
    "reStructuredText docs, two examples": (
        ".. parsed-literal::\n\n   (qemu) info network\n"
        "   e1000e.0: index=0,type=nic,model=e1000e,macaddr=52:54:00:12:34:56\n"
        "    \\ #net071: index=0,type=passt,stream,connected to pid 24846\n\n"
        ".. parsed-literal::\n\n   (qemu) info network\n   hub 0\n"
        "    \\ hub0port1: #net136: index=0,type=passt,stream,connected to pid 25204\n"
        "    \\ hub0port0: e1000e.0: index=0,type=nic,model=e1000e,macaddr=52:54:00:12:34:56\n",
        "hub 0\n \\ hub0port1: #net136: index=0,type=passt,stream,connected to pid 25204\n"
        " \\ hub0port0: e1000e.0: index=0,type=nic,model=e1000e,macaddr=52:54:00:12:34:56\n",
    ),
    "mail quoted twice, wrapped": (
        ">> >> QEMU 5.1.50 monitor - type 'help' for more information\n"
        ">> >> (qemu) info network\n>> >> hub 0\n>> >>  \\ hub0port1: __org.qemu.net1:\n"
        ">> index=0,type=user,net=10.0.2.0,restrict=off\n>> >>  \\ hub0port0: e1000e.0:\n"
        ">> >> index=0,type=nic,model=e1000e,macaddr=52:54:00:12:34:56\n"
        ">> >> dnet0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:57\n"
        ">> >> net0:\n>> >>\n"
        ">> index=0,type=tap,ifname=tap0,script=/etc/qemu-ifup,downscript=no\n",
        "hub 0\n \\ hub0port1: __org.qemu.net1: index=0,type=user,net=10.0.2.0,restrict=off\n"
        " \\ hub0port0: e1000e.0: index=0,type=nic,model=e1000e,macaddr=52:54:00:12:34:56\n"
        "dnet0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:57\n"
        "net0: index=0,type=tap,ifname=tap0,script=/etc/qemu-ifup,downscript=no\n",
    ),
    "quote box with trailing spaces and another command": (
        " ,----\n | (qemu) info network\n | hub 0                    \n"
        " |  \\ hub0port1: bridge.0: index=0,type=tap,helper=/usr/lib/qemu/qemu-bridge-helper,"
        "br=br0\n"
        " |  \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n"
        " | (qemu) info block\n | hd0 (#block143): /var/lib/images/vm.qcow2 (raw)\n"
        " |     Cache mode:       writeback\n `----\n",
        "hub 0\n \\ hub0port1: bridge.0: index=0,type=tap,helper=/usr/lib/qemu/qemu-bridge-helper,"
        "br=br0\n \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n",
    ),
}


def test_shapes_of_real_posts_read_to_their_listing() -> None:
    """Real paste shapes read to the listing inside them, and say what they took out."""
    for name, (pasted, listing) in REAL_SHAPES.items():
        got = parse_info_network(pasted, pasted=True)
        want = parse_info_network(listing)
        assert (got.hubs, got.clients) == (want.hubs, want.clients), name
        assert got.notes and got.removed, name
        # the prose line of the README is the only line not understood
        assert [u.line for u in got.unparsed] == ([1] if name == "markdown README" else []), name


def test_json_reply_among_shell_lines_and_a_qmp_session() -> None:
    """The JSON reply line of a virsh command or a socat QMP session is unwrapped; the lines
    around it are removed with a reason, the greeting and other replies are not mistaken."""
    reply = ('{"return": "hub 0\\r\\n \\\\ hub0port1: #net1: index=0,type=user,net=10.0.2.0,'
             'restrict=off\\r\\n \\\\ hub0port0: e1000.0: index=0,type=nic,model=e1000,'
             'macaddr=52:54:00:12:34:56\\r\\n", "id": "libvirt-9"}')
    listing = ("hub 0\n \\ hub0port1: #net1: index=0,type=user,net=10.0.2.0,restrict=off\n"
               " \\ hub0port0: e1000.0: index=0,type=nic,model=e1000,macaddr=52:54:00:12:34:56\n")
    want = parse_info_network(listing)
    virsh = f"root@host:~# virsh qemu-monitor-command web1 '{{...}}'\n{reply}\nroot@host:~#\n"
    socat = ('{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": ["oob"]}}\n'
             '{"execute": "qmp_capabilities"}\n{"return": {}}\n'
             '{"execute": "human-monitor-command", "arguments": {"command-line": "info network"}}\n'
             f"{reply}\n")
    for text in (virsh, socat):
        got = parse_info_network(text, pasted=True)
        assert (got.hubs, got.clients, got.unparsed) == (want.hubs, want.clients, ()), text
        assert all(u.reason == "around the QMP JSON reply" for u in got.removed)


def test_quoted_printable_mail_body() -> None:
    """A mail archive's quoted-printable text (=3D, a line cut with '=', =C2=A0) reads as the
    listing it encodes."""
    text = ("HMP:\n\nhub 0\n \\ hub0port1: socket.0: index=3D0,type=3Dsocket,\n"
            " \\ hub0port0: virtio-net-pci.0: index=3D0,type=3Dnic,model=3Dvirtio-net-p=\n"
            "ci,macaddr=3D52:54:00:12:34:56\n=C2=A0\n")
    want = parse_info_network(
        "hub 0\n \\ hub0port1: socket.0: index=0,type=socket,\n"
        " \\ hub0port0: virtio-net-pci.0: index=0,type=nic,model=virtio-net-pci,"
        "macaddr=52:54:00:12:34:56\n")
    got = parse_info_network(text, pasted=True)
    assert (got.hubs, got.clients) == (want.hubs, want.clients)
    assert any("quoted-printable" in n for n in got.notes)
    assert [u.text for u in got.unparsed] == ["HMP:"]


def test_a_pasted_hot_plug_session_reads_the_output_after_the_change() -> None:
    """A monitor session around a real hot-plug (info network, the HMP commands, info network
    again) reads to the listing after the change, never to both merged."""
    sessions = list(hotplug_pastes())
    assert len(sessions) >= 6
    for name, pasted, after in sessions:
        got = parse_info_network(pasted, pasted=True)
        want = parse_info_network(after)
        assert (got.hubs, got.clients) == (want.hubs, want.clients), name
        assert not got.unparsed, name
        assert all(u.reason for u in got.removed), name
