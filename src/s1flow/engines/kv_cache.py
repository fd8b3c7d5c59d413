"""A key/value cache for ``model.generate`` that writes into preallocated buffers.

transformers' default cache (``DynamicCache``) grows every layer's keys and values by
``torch.cat`` at each decoding step, which copies the whole cache once per new token: for the
nano models' batches of 64 it was about a quarter of a sweep's time. :class:`PreallocatedLayer`
keeps one buffer per layer, sized for the prompt plus every new token, writes each step's keys
into it and hands attention a view of the filled part. Attention sees the same numbers in the
same shapes, so the tokens are the same as with ``DynamicCache`` (tests/unit/test_kv_cache.py);
only the copying goes (benchmarks/batch_size.py, docs/performance.md).
"""

from __future__ import annotations

import torch
from transformers import DynamicCache, PretrainedConfig
from transformers.cache_utils import DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values are views of buffers of ``capacity`` positions.

    A buffer that fills up is replaced by one twice as long. Any other change to the layer
    (crop, beam reordering, batch selection) assigns new tensors to ``keys``/``values`` as
    ``DynamicLayer`` does; the next :meth:`update` then starts a fresh buffer from them.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None
        self._length = 0

    def _owns_views(self) -> bool:
        """Whether ``keys`` is still the view of this layer's buffer (nothing replaced it)."""
        buffer = self._key_buffer
        return (buffer is not None and self.keys is not None and self.keys.shape[-2] == self._length
                and self.keys.data_ptr() == buffer.data_ptr() and self.keys.shape[:-2] == buffer.shape[:-2])

    def _new_buffers(self, keys: torch.Tensor, values: torch.Tensor, length: int, needed: int) -> None:
        size = max(self.capacity, needed)
        if self._key_buffer is not None and needed > self._key_buffer.shape[-2]:
            size = max(size, 2 * self._key_buffer.shape[-2])
        key_buffer = keys.new_empty((*keys.shape[:-2], size, keys.shape[-1]))
        value_buffer = values.new_empty((*values.shape[:-2], size, values.shape[-1]))
        if length:
            key_buffer[..., :length, :] = keys[..., :length, :]
            value_buffer[..., :length, :] = values[..., :length, :]
        self._key_buffer, self._value_buffer = key_buffer, value_buffer

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args,
               **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys and values; return every position's (views of the buffers)."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if not self._owns_views():
            # first call, or crop/reorder/select replaced the tensors: rebuild from what is held
            held = self.keys.shape[-2] if self.keys is not None and self.keys.numel() else 0
            self._length = held
            self._key_buffer = None
            self._new_buffers(self.keys if held else key_states, self.values if held else value_states,
                              held, held + key_states.shape[-2])
        new = key_states.shape[-2]
        if self._length + new > self._key_buffer.shape[-2]:
            self._new_buffers(self._key_buffer, self._value_buffer, self._length, self._length + new)
        self._key_buffer[..., self._length:self._length + new, :] = key_states
        self._value_buffer[..., self._length:self._length + new, :] = value_states
        self._length += new
        self.keys = self._key_buffer[..., :self._length, :]
        self.values = self._value_buffer[..., :self._length, :]
        return self.keys, self.values

    def reset(self) -> None:
        """Drop the buffers with the cached states."""
        self._key_buffer = self._value_buffer = None
        self._length = 0
        super().reset()


def preallocated_cache(config: PretrainedConfig, capacity: int) -> DynamicCache | None:
    """A ``DynamicCache`` for `config`'s model whose layers are :class:`PreallocatedLayer` of `capacity`
    positions, or None when the model has layers other than plain full attention (sliding windows,
    linear attention): ``generate`` then builds its own cache."""
    cache = DynamicCache(config=config)
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None
    cache.layers = [PreallocatedLayer(capacity) for _ in cache.layers]
    return cache
