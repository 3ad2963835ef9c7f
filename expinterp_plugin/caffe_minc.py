"""Read Caffe ``.caffemodel`` weights without protobuf, and convert MINC VGG-16 to torch.

A ``.caffemodel`` is a serialised ``NetParameter`` (caffe.proto). Only the fields that carry
weights are decoded; everything else is skipped by its wire type:

    NetParameter       layer = 100 (LayerParameter)  | legacy layers = 2 (V1LayerParameter)
    LayerParameter     name = 1, blobs = 7
    V1LayerParameter   name = 4, blobs = 6
    BlobProto          num, channels, height, width = 1..4 (legacy 4-D shape), data = 5 (float),
                       shape = 7 (BlobShape: dim = 1, int64), double_data = 8 (double)

Repeated numbers may be packed (one length-delimited field) or unpacked (one field each); both
are accepted. The file is memory-mapped, so skipping the large fully connected layers does not
read them from disk.

MINC (Bell et al., CVPR 2015) published its VGG-16 only in this format; ``convert_minc_vgg16``
writes the torch state dict that ``MINCVGG16Features`` loads.
"""
import mmap
from pathlib import Path

import numpy as np

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_NET_LAYER, _NET_LAYERS_V1 = 100, 2
_LAYER_FIELDS = {_NET_LAYER: {'name': 1, 'blobs': 7}, _NET_LAYERS_V1: {'name': 4, 'blobs': 6}}
_BLOB_LEGACY_DIMS = (1, 2, 3, 4)
_BLOB_DATA, _BLOB_SHAPE, _BLOB_DOUBLE_DATA = 5, 7, 8
_SHAPE_DIM = 1
_FC_LAYERS = {'fc6': 'fc6', 'fc7': 'fc7', 'fc8-20': 'fc8'}
_VGG16_FC6_INPUTS = 512 * 7 * 7


class CaffeFormatError(ValueError):
    """The file is not a readable Caffe model; the message names the file and the problem."""


class _Reader:
    """Protobuf wire-format decoding over a bytes-like buffer, with errors naming the file."""

    def __init__(self, buf, path):
        self.buf = buf
        self.path = path

    def fail(self, pos, problem):
        raise CaffeFormatError(f'{self.path}: {problem} at byte {pos} '
                               f'(truncated, or not a Caffe model)')

    def varint(self, pos, end):
        """(value, next position) of the varint at ``pos``."""
        value, shift = 0, 0
        while True:
            if pos >= end:
                self.fail(pos, 'varint runs past the end of its message')
            byte = self.buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos
            shift += 7
            if shift > 63:
                self.fail(pos, 'varint longer than 10 bytes')

    def field(self, pos, end):
        """(number, wire type, value, next position) of the field at ``pos``.

        value: an int for varints, else the (start, end) span of the payload.
        """
        key, pos = self.varint(pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            self.fail(pos, 'field number 0')
        if wire == _VARINT:
            value, nxt = self.varint(pos, end)
        elif wire == _LEN:
            length, pos = self.varint(pos, end)
            value, nxt = (pos, pos + length), pos + length
        elif wire in (_FIXED32, _FIXED64):
            nxt = pos + (4 if wire == _FIXED32 else 8)
            value = (pos, nxt)
        else:
            self.fail(pos, f'unsupported wire type {wire}')
        if nxt > end:
            self.fail(pos, f'field {number} runs past the end of its message')
        return number, wire, value, nxt

    def fields(self, start, end):
        """Yield (number, wire type, value) for every field of the message in [start, end)."""
        pos = start
        while pos < end:
            number, wire, value, pos = self.field(pos, end)
            yield number, wire, value

    def string(self, span):
        return bytes(self.buf[span[0]:span[1]]).decode('utf-8', errors='replace')

    def packed_varints(self, span):
        values, pos = [], span[0]
        while pos < span[1]:
            value, pos = self.varint(pos, span[1])
            values.append(value)
        return values

    def packed_numbers(self, span, dtype):
        """Copy of a packed little-endian float32/float64 payload as a 1-D array."""
        size = np.dtype(dtype).itemsize
        nbytes = span[1] - span[0]
        if nbytes % size:
            self.fail(span[0], f'packed {np.dtype(dtype).name} payload of {nbytes} bytes')
        return np.frombuffer(self.buf, dtype=dtype, count=nbytes // size, offset=span[0]).copy()

    def unpacked_run(self, key_pos, end, dtype):
        """(values, next position) for consecutive unpacked fixed-size fields with one key.

        Each record is a one-byte key followed by the value; the run is decoded with one numpy
        step instead of field by field, which matters for millions of weights.
        """
        stride = 1 + np.dtype(dtype).itemsize
        count = (end - key_pos) // stride
        records = np.frombuffer(self.buf, dtype=np.uint8, count=count * stride,
                                offset=key_pos).reshape(count, stride)
        same_key = records[:, 0] == records[0, 0]
        run = count if same_key.all() else int(np.argmin(same_key))
        values = records[:run, 1:].copy().view(dtype).reshape(run)
        return values, key_pos + run * stride


def _parse_blob(reader, span, where):
    """BlobProto -> float32 array in its declared shape (BlobShape, else legacy 4-D)."""
    legacy, shape, chunks = {}, None, []
    pos, end = span
    while pos < end:
        number, wire, value, nxt = reader.field(pos, end)
        if number == _BLOB_DATA and wire == _FIXED32:
            values, nxt = reader.unpacked_run(pos, end, '<f4')
            chunks.append(values)
        elif number == _BLOB_DOUBLE_DATA and wire == _FIXED64:
            values, nxt = reader.unpacked_run(pos, end, '<f8')
            chunks.append(values.astype(np.float32))
        elif number == _BLOB_DATA and wire == _LEN:
            chunks.append(reader.packed_numbers(value, '<f4'))
        elif number == _BLOB_DOUBLE_DATA and wire == _LEN:
            chunks.append(reader.packed_numbers(value, '<f8').astype(np.float32))
        elif number == _BLOB_SHAPE and wire == _LEN:
            shape = _parse_blob_shape(reader, value)
        elif number in _BLOB_LEGACY_DIMS and wire == _VARINT:
            legacy[number] = value
        pos = nxt
    if shape is None:
        shape = tuple(legacy.get(n, 0) for n in _BLOB_LEGACY_DIMS)
    # native float32 whatever the chunks' byte order, as torch.from_numpy needs
    data = np.concatenate(chunks or [np.zeros(0, np.float32)]).astype(np.float32, copy=False)
    if data.size != int(np.prod(shape)):
        raise CaffeFormatError(f'{reader.path}: {where}: {data.size} values for shape {shape}')
    return data.reshape(shape)


def _parse_blob_shape(reader, span):
    dims = []
    for number, wire, value in reader.fields(*span):
        if number == _SHAPE_DIM and wire == _VARINT:
            dims.append(value)
        elif number == _SHAPE_DIM and wire == _LEN:
            dims.extend(reader.packed_varints(value))
    return tuple(dims)


def _parse_layer(reader, span, field_ids, wanted):
    """(name, blobs) of one layer message; blobs is None when the name is not ``wanted``."""
    name, blob_spans = f'<unnamed layer at byte {span[0]}>', []
    for number, wire, value in reader.fields(*span):
        if number == field_ids['name'] and wire == _LEN:
            name = reader.string(value)
        elif number == field_ids['blobs'] and wire == _LEN:
            blob_spans.append(value)
    if not blob_spans:
        return name, []
    if wanted is not None and name not in wanted:
        return name, None
    return name, [_parse_blob(reader, span, f'layer {name} blob {i}')
                  for i, span in enumerate(blob_spans)]


def read_caffemodel(path, wanted=None):
    """{layer name: [blob arrays, float32, Caffe shapes]} for every layer that holds blobs.

    ``wanted``: optional collection of layer names; other layers with blobs map to None (their
    data is skipped, not read). Raises FileNotFoundError or CaffeFormatError naming ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'Caffe model not found: {path}')
    if path.stat().st_size == 0:
        raise CaffeFormatError(f'{path}: empty file, not a Caffe model')
    layers = {}
    with open(path, 'rb') as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        reader = _Reader(buf, path)
        for number, wire, value in reader.fields(0, len(buf)):
            if number in _LAYER_FIELDS and wire == _LEN:
                name, blobs = _parse_layer(reader, value, _LAYER_FIELDS[number], wanted)
                if blobs is None or blobs:
                    layers[name] = blobs
    return layers


def _conv_tensors(path, name, blobs, cin, cout):
    """(weight (cout, cin, 3, 3), bias (cout,)) float32 arrays of one Caffe conv layer."""
    if len(blobs) != 2:
        raise CaffeFormatError(f'{path}: layer {name} has {len(blobs)} blobs, '
                               f'expected weight and bias')
    weight, bias = blobs
    if weight.shape != (cout, cin, 3, 3):
        raise CaffeFormatError(f'{path}: layer {name} weight has shape {weight.shape}, '
                               f'expected {(cout, cin, 3, 3)} for VGG-16')
    if bias.size != cout:
        raise CaffeFormatError(f'{path}: layer {name} bias has {bias.size} values, expected {cout}')
    return weight, bias.reshape(cout)


def _fc_tensors(path, name, blobs, in_features):
    """(weight (out, in_features), bias (out,)) of an InnerProduct layer, legacy shapes allowed."""
    if len(blobs) != 2:
        raise CaffeFormatError(f'{path}: layer {name} has {len(blobs)} blobs, '
                               f'expected weight and bias')
    weight, bias = blobs
    out_features = bias.size
    if weight.size != out_features * in_features:
        raise CaffeFormatError(f'{path}: layer {name} weight has shape {weight.shape}, expected '
                               f'{out_features} x {in_features} values')
    return weight.reshape(out_features, in_features), bias.reshape(out_features)


def minc_vgg16_arrays(path, include_fc=False):
    """{state-dict key: float32 array} of the MINC VGG-16 in ``path`` (a .caffemodel).

    Keys are ``conv{i}_{j}.weight`` (out, in, 3, 3) and ``.bias`` for conv1_1..conv5_3, the layout
    of ``MINCVGG16Features``; conv1_1 keeps Caffe's BGR input-channel order. With
    ``include_fc``, also ``fc6``/``fc7``/``fc8`` (Caffe's ``fc8-20``) ``.weight`` (out, in) and
    ``.bias``. Every shape is checked against VGG-16.
    """
    from expinterp_plugin.archs.minc_vgg_arch import vgg16_conv_specs

    specs = vgg16_conv_specs()
    wanted = [name for name, _, _ in specs] + (list(_FC_LAYERS) if include_fc else [])
    layers = read_caffemodel(path, wanted)
    missing = [name for name in wanted if not layers.get(name)]
    if missing:
        raise CaffeFormatError(f'{path}: no weights for layer(s) {missing}; layers with weights: '
                               f'{sorted(layers)} (is this the MINC VGG-16 model?)')
    arrays = {}
    for name, cin, cout in specs:
        weight, bias = _conv_tensors(path, name, layers[name], cin, cout)
        arrays[f'{name}.weight'], arrays[f'{name}.bias'] = weight, bias
    if include_fc:
        in_features = _VGG16_FC6_INPUTS
        for caffe_name, key in _FC_LAYERS.items():
            weight, bias = _fc_tensors(path, caffe_name, layers[caffe_name], in_features)
            arrays[f'{key}.weight'], arrays[f'{key}.bias'] = weight, bias
            in_features = bias.size
    return arrays


def save_state_dict_atomic(state, output):
    """torch.save ``state`` to ``output`` through the package's atomic writer (temp + rename)."""
    import io

    import torch

    from expinterp_plugin.exposure.io import atomic_write_bytes
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(output, buffer.getvalue())


def convert_minc_vgg16(caffemodel, output, include_fc=False):
    """Convert a MINC VGG-16 .caffemodel into a torch state dict file; returns {key: shape}."""
    import torch

    arrays = minc_vgg16_arrays(caffemodel, include_fc)
    state = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items()}
    save_state_dict_atomic(state, output)
    return {key: tuple(value.shape) for key, value in state.items()}
