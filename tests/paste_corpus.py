"""Pasted forms of real ``info network`` captures: mechanical variants of each artifact seen in
text people hand over (mail, forums, READMEs, terminals, ``virsh``), alone and combined.

A variant is a list of layers applied in the order given, as text travels (usually: whitespace
damage inside lines, wrapping, block decoration such as indentation, quotes, prompts, then what
surrounds the block: echo, banner, earlier output, code fence, JSON reply), then an encoding
(CRLF, CR, BOM). ``render(text, layers)`` gives the bytes a person would hand over.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "fixtures" / "captures"

Layer = Callable[[list[str]], list[str]]


def captures() -> Iterator[tuple[str, str]]:
    """(``version/scenario``, exact info network text) of every capture with a network."""
    for path in sorted(CAPTURES.glob("*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        text = doc.get("info_network")
        if isinstance(text, str) and text.strip():
            yield f"{path.parent.name}/{path.stem}", text


def seed_captures() -> Iterator[tuple[str, str]]:
    """The seed leak (hub 0: two NICs, user NAT, listening socket) of every QEMU version."""
    for name, text in captures():
        if name.endswith("/legacy_seed_user_socket_listen"):
            yield name, text


def hotplug_pastes() -> Iterator[tuple[str, str, str]]:
    """(name, pasted, after) from the real hot-plug captures: ``info network`` before the
    first change and after the last, the HMP commands typed between, as one monitor session
    pasted whole (two outputs: the last is the one to read)."""
    for path in sorted(CAPTURES.glob("*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        steps = doc.get("steps") or []
        before = doc.get("startup_info_network") or (steps[0].get("info_network_before")
                                                       if steps else None)
        if not steps or not isinstance(before, str):
            continue
        after = steps[-1]["info_network_after"]
        typed = [f"(qemu) {_hmp(step['cmd'], step.get('args') or {})}" for step in steps]
        pasted = "\n".join([
            "(qemu) info network", *_lines(before), *typed, "(qemu) info network", *_lines(after),
            "(qemu) ",
        ]) + "\n"
        yield f"{path.parent.name}/{path.stem}", pasted, after


def _hmp(cmd: str, args: dict[str, object]) -> str:
    """The HMP spelling of a QMP hot-plug step (``netdev_add user,id=n0``)."""
    rest = {k: v for k, v in args.items() if k not in ("type", "driver")}
    head = str(args.get("type") or args.get("driver") or "")
    opts = ",".join([head, *(f"{k}={v}" for k, v in rest.items())]).strip(",")
    return f"{cmd.replace('-', '_')} {opts}".strip()


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").rstrip("\n").split("\n")


def _backslash(repl: str) -> Layer:
    return lambda ls: [repl + ln[3:] if ln.startswith(" \\ ") else ln for ln in ls]


def _wrap(width: int, *, at_spaces: bool) -> Layer:
    def layer(ls: list[str]) -> list[str]:
        out: list[str] = []
        for ln in ls:
            if len(ln) <= width:
                out.append(ln)
            elif at_spaces:  # a mail client: breaks at a space, drops it
                out += textwrap.wrap(ln, width, break_long_words=False, break_on_hyphens=False)
            else:  # a terminal: cuts at the column, keeps every character
                out += [ln[i : i + width] for i in range(0, len(ln), width)]
        return out

    return layer


# whitespace inside lines
INNER: dict[str, Layer] = {
    "trailing-spaces": lambda ls: [ln + "   " for ln in ls],
    "trailing-tab": lambda ls: [ln + "\t" for ln in ls],
    "nbsp-before-backslash": _backslash("\u00a0\\ "),
    "tab-before-backslash": _backslash("\t\\ "),
    "no-space-before-backslash": _backslash("\\ "),
    "two-spaces-before-backslash": _backslash("  \\ "),
    "bullet-before-backslash": _backslash("- \\ "),
}
WRAP: dict[str, Layer] = {
    "mail-wrap-72": _wrap(72, at_spaces=True),
    "terminal-wrap-80": _wrap(80, at_spaces=False),
    "terminal-wrap-64": _wrap(64, at_spaces=False),
}
BLOCK: dict[str, Layer] = {
    "indent-4": lambda ls: ["    " + ln for ln in ls],
    "indent-3-rst": lambda ls: ["   " + ln for ln in ls],
    "list-item": lambda ls: ["1. " + ls[0], *("   " + ln for ln in ls[1:])],
    "mail-quote": lambda ls: ["> " + ln for ln in ls],
    "mail-quote-2": lambda ls: ["> > " + ln for ln in ls],
    "prompt-every-line": lambda ls: ["qm> info network", *("qm> " + ln for ln in ls)],
    "qemu-prompt-every-line": lambda ls: ["(qemu) info network", *("(qemu) " + ln for ln in ls)],
}
OUTER: dict[str, Layer] = {
    "qemu-prompt-echo": lambda ls: ["(qemu) info network", *ls, "(qemu) "],
    "banner-echo": lambda ls: [
        "QEMU 7.2.22 monitor - type 'help' for more information", "(qemu) info network", *ls,
    ],
    "proxmox-qm-monitor": lambda ls: [
        "root@pve:~# qm monitor 100",
        "Entering QEMU Monitor for VM 100 - type 'help' for help",
        "qm> info network", *ls, "qm> quit",
    ],
    "earlier-output": lambda ls: [
        "(qemu) info network",
        "hub 0",
        " \\ hub0port0: old.0: index=0,type=nic,model=e1000,macaddr=52:54:00:ab:cd:ef",
        "(qemu) device_add e1000,id=x",
        "(qemu) info network", *ls,
    ],
    "markdown-fence": lambda ls: ["```", *ls, "```"],
    # a guest's console line between the lines of the listing (it stays an unparsed line)
    "guest-output": lambda ls: [*ls[:2], GUEST_LINE, *ls[2:]],
    "virsh-json": lambda ls: [json.dumps({"return": "\r\n".join(ls) + "\r\n",
                                          "id": "libvirt-412"})],
}
#: what a serial console printed into the middle of a paste; the only line left unparsed
GUEST_LINE = "[  OK  ] Started systemd-networkd.service - Network Configuration."

ENCODING: dict[str, Callable[[str], bytes]] = {
    "lf": lambda t: t.encode(),
    "crlf": lambda t: t.replace("\n", "\r\n").encode(),
    "cr": lambda t: t.replace("\n", "\r").encode(),
    "bom": lambda t: b"\xef\xbb\xbf" + t.encode(),
    "bom-crlf": lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode(),
}
LAYER_GROUPS: tuple[dict[str, Layer], ...] = (INNER, WRAP, BLOCK, OUTER)


ALL_LAYERS: dict[str, Layer] = {k: v for group in LAYER_GROUPS for k, v in group.items()}


def render(text: str, layers: Sequence[str], encoding: str = "lf") -> bytes:
    """The exact text with ``layers`` applied in the order given, then encoded."""
    lines = _lines(text)
    for name in layers:
        lines = ALL_LAYERS[name](lines)
    return ENCODING[encoding]("\n".join(lines) + "\n")


def single_artifacts() -> Iterator[tuple[list[str], str]]:
    """Each artifact alone: (layers, encoding)."""
    for group in LAYER_GROUPS:
        for name in group:
            yield [name], "lf"
    for enc in ENCODING:
        if enc != "lf":
            yield [], enc


COMBINED: tuple[tuple[list[str], str], ...] = (
    (["trailing-spaces", "mail-wrap-72", "mail-quote"], "crlf"),
    (["nbsp-before-backslash", "indent-4", "markdown-fence"], "bom"),
    # a terminal wraps what it shows, prompt included; a mail client wraps before quoting
    (["tab-before-backslash", "prompt-every-line", "terminal-wrap-80"], "cr"),
    (["two-spaces-before-backslash", "list-item", "qemu-prompt-echo"], "bom-crlf"),
    (["bullet-before-backslash", "mail-quote-2", "earlier-output"], "lf"),
    (["trailing-tab", "indent-3-rst", "banner-echo"], "crlf"),
    (["no-space-before-backslash", "virsh-json"], "bom"),
    (["mail-wrap-72", "proxmox-qm-monitor"], "crlf"),
)
