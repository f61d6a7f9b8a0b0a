"""Parsers of QEMU text: ``info network``, ``info usernet``, QEMU command lines. Pure, no I/O."""

from qnetinspect.parse.info_network import parse_info_network
from qnetinspect.parse.usernet import parse_usernet

__all__ = ["parse_info_network", "parse_usernet"]
