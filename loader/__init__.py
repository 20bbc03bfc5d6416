"""Models, pruners, masks, encodings and the exporter (no analysis, one-way data flow)."""

from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition

__all__ = ["EdgeBlock", "MultipartiteGraph", "Partition"]
