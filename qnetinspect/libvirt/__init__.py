"""libvirt targets (``libvirt:DOMAIN``, ``libvirt:``): domains read through libvirt's own API.

libvirtd holds each domain's monitor for the domain's whole life, so qnetinspect never connects to
that socket; it asks libvirt instead, locally (``qemu:///system``) or on another host through
libvirt's remote transport (``qemu+ssh://HOST/system``). libvirt-python is an optional extra
(``pip install 'qnetinspect[libvirt]'``), imported only for these targets.

- ``domxml``: the domain XML -> interfaces and ``<qemu:commandline>`` arguments (pure).
- ``reader``: one domain -> ``Snapshot`` (``info network``/``info usernet`` through the monitor
  passthrough, which libvirt records as the taint ``custom-monitor``; or, with ``--no-monitor``,
  the topology predicted from the QEMU command line, tainting nothing).
- ``fixes``: findings of a libvirt guest rewritten as domain XML changes.
"""

from __future__ import annotations

DEFAULT_URI = "qemu:///system"
