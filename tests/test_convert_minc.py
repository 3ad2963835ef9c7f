"""Caffe reader and ``expinterp convert-minc``, on Caffe files written by a tiny encoder here."""
import json
import os
import tempfile

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import expinterp_plugin  # noqa: F401  (arms BasicSR registration)
from expinterp_plugin import caffe_minc, cli
from expinterp_plugin.archs.minc_vgg_arch import MINCVGG16Features, vgg16_conv_specs
from expinterp_plugin.caffe_minc import CaffeFormatError, convert_minc_vgg16, read_caffemodel

# ---- a minimal protobuf encoder for caffe.proto's NetParameter --------------------------------


def varint(n):
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def length_delimited(field, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return tag(field, 2) + varint(len(payload)) + payload


def varint_field(field, value):
    return tag(field, 0) + varint(value)


def packed_floats(field, values):
    return length_delimited(field, np.asarray(values, '<f4').tobytes())


def unpacked_floats(field, values):
    values = np.asarray(values, '<f4').ravel()
    records = np.empty((values.size, 5), np.uint8)
    records[:, 0] = tag(field, 5)[0]
    records[:, 1:] = values.view(np.uint8).reshape(-1, 4)
    return records.tobytes()


def blob(array, encoding='packed', legacy_shape=False):
    """BlobProto: data as packed, unpacked or half-and-half; shape as BlobShape or num/ch/h/w."""
    array = np.asarray(array, np.float32)
    if legacy_shape:
        dims = (1,) * (4 - array.ndim) + array.shape
        head = b''.join(varint_field(f, d) for f, d in zip((1, 2, 3, 4), dims))
    else:
        head = length_delimited(7, length_delimited(1, b''.join(varint(d) for d in array.shape)))
    flat = array.ravel()
    if encoding == 'packed':
        data = packed_floats(5, flat)
    elif encoding == 'unpacked':
        data = unpacked_floats(5, flat)
    else:
        half = flat.size // 2
        data = unpacked_floats(5, flat[:half]) + packed_floats(5, flat[half:])
    diff = packed_floats(6, np.ones(3))  # gradients stored by some snapshots; must be ignored
    return head + data + diff


def layer(name, blobs, v1=False):
    """LayerParameter (field 100 of NetParameter) or legacy V1LayerParameter (field 2)."""
    if v1:
        body = (length_delimited(2, 'bottom') + length_delimited(3, 'top') + length_delimited(4, name)
                + varint_field(5, 4) + b''.join(length_delimited(6, b) for b in blobs))
        return length_delimited(2, body)
    body = (length_delimited(1, name) + length_delimited(2, 'Convolution') + length_delimited(3, 'bottom')
            + length_delimited(4, 'top') + length_delimited(106, varint_field(1, 64))
            + b''.join(length_delimited(7, b) for b in blobs)
            + tag(9, 1) + np.float64(1.0).tobytes())
    return length_delimited(100, body)


def net(layers):
    return length_delimited(1, 'MINC-VGG16') + b''.join(layers)


def random_vgg16(seed=0):
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal((cout, cin, 3, 3), np.float32), rng.standard_normal(cout, np.float32))
            for name, cin, cout in vgg16_conv_specs()}


def encode_vgg16(weights, v1=False, extra_layers=()):
    # conv1_1 unpacked, conv1_2 half-and-half, the rest packed; legacy shapes for V1 files
    encodings = {'conv1_1': 'unpacked', 'conv1_2': 'mixed'}
    layers = [layer('data', [], v1)]
    for name, (w, b) in weights.items():
        enc = encodings.get(name, 'packed')
        layers.append(layer(name, [blob(w, enc, v1), blob(b, enc, v1)], v1))
        layers.append(layer(name.replace('conv', 'relu'), [], v1))
    return net(layers + list(extra_layers))


@pytest.fixture(scope='module')
def vgg_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp('caffe')
    weights = random_vgg16()
    paths = {}
    for fmt in ('layer', 'v1'):
        paths[fmt] = folder / f'minc-vgg16-{fmt}.caffemodel'
        paths[fmt].write_bytes(encode_vgg16(weights, v1=fmt == 'v1'))
    return weights, paths


# ---- tests ---------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)),
              elements=st.floats(allow_nan=False, width=32)),
       st.sampled_from(['packed', 'unpacked', 'mixed']), st.booleans(), st.booleans())
def test_reader_round_trips_blobs(array, encoding, legacy, v1):
    blobs = [blob(array, encoding, legacy), blob(array[0, 0], 'packed')]
    payload = net([layer('relu', [], v1), layer('any name', blobs, v1)])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'x.caffemodel')
        with open(path, 'wb') as f:
            f.write(payload)
        layers = read_caffemodel(path)
    assert list(layers) == ['any name']
    weight, second = layers['any name']
    assert weight.dtype == np.float32 and np.array_equal(weight, array)
    assert np.array_equal(second, array[0, 0]) and second.shape == array.shape[2:]


def test_unwanted_layers_are_listed_but_not_decoded(tmp_path):
    path = tmp_path / 'two.caffemodel'
    path.write_bytes(net([layer('a', [blob(np.ones(4))]), layer('b', [blob(np.arange(3.0))])]))
    layers = read_caffemodel(path, wanted={'b'})
    assert layers['a'] is None and np.array_equal(layers['b'][0], np.arange(3.0, dtype=np.float32))


@pytest.mark.parametrize('fmt', ['layer', 'v1'])
def test_converted_weights_load_exactly(vgg_files, tmp_path, fmt):
    weights, paths = vgg_files
    out = tmp_path / 'minc_vgg16.pth'
    shapes = convert_minc_vgg16(paths[fmt], out)
    assert len(shapes) == 26 and shapes['conv5_3.weight'] == (512, 512, 3, 3)
    assert [p.name for p in tmp_path.iterdir()] == ['minc_vgg16.pth'], 'no temporary file left behind'
    features = MINCVGG16Features(out, layers=('conv5_3',))
    state = features.state_dict()
    for name, (w, b) in weights.items():
        assert torch.equal(state[f'{name}.weight'], torch.from_numpy(w))
        assert torch.equal(state[f'{name}.bias'], torch.from_numpy(b))


def test_fully_connected_layers_optional(tmp_path, monkeypatch):
    # a real fc6 is 4096 x 25088; shrink its input size so the test file stays small
    monkeypatch.setattr(caffe_minc, '_VGG16_FC6_INPUTS', 12)
    rng = np.random.default_rng(1)
    fc = {'fc6': rng.standard_normal((8, 12), np.float32), 'fc7': rng.standard_normal((8, 8), np.float32),
          'fc8-20': rng.standard_normal((23, 8), np.float32)}
    extra = [layer(n, [blob(w, legacy_shape=n == 'fc7'), blob(rng.standard_normal(w.shape[0], np.float32))])
             for n, w in fc.items()]
    src = tmp_path / 'with_fc.caffemodel'
    src.write_bytes(encode_vgg16(random_vgg16(2), extra_layers=extra))
    shapes = convert_minc_vgg16(src, tmp_path / 'fc.pth', include_fc=True)
    state = torch.load(tmp_path / 'fc.pth', weights_only=True)
    assert shapes['fc8.weight'] == (23, 8) and shapes['fc7.weight'] == (8, 8)
    assert torch.equal(state['fc6.weight'], torch.from_numpy(fc['fc6']))
    assert 'fc6.weight' not in convert_minc_vgg16(src, tmp_path / 'conv.pth')


def test_missing_fc_layers_are_named(vgg_files, tmp_path):
    with pytest.raises(CaffeFormatError, match=r"no weights for layer\(s\) \['fc6', 'fc7', 'fc8-20'\]"):
        convert_minc_vgg16(vgg_files[1]['layer'], tmp_path / 'x.pth', include_fc=True)


def test_truncated_file_is_named(vgg_files, tmp_path):
    data = vgg_files[1]['layer'].read_bytes()
    bad = tmp_path / 'truncated.caffemodel'
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(CaffeFormatError, match='truncated.caffemodel: .*runs past the end'):
        convert_minc_vgg16(bad, tmp_path / 'out.pth')
    assert not (tmp_path / 'out.pth').exists()


def test_wrong_shape_is_named(tmp_path):
    weights = random_vgg16()
    weights['conv2_1'] = (np.zeros((128, 32, 3, 3), np.float32), np.zeros(128, np.float32))
    src = tmp_path / 'wrong.caffemodel'
    src.write_bytes(encode_vgg16(weights))
    with pytest.raises(CaffeFormatError, match=r'wrong.caffemodel: layer conv2_1 weight has shape \(128, 32, 3, 3\)'):
        convert_minc_vgg16(src, tmp_path / 'out.pth')


def test_other_networks_and_junk_are_rejected(tmp_path):
    other = tmp_path / 'alexnet.caffemodel'
    other.write_bytes(net([layer('conv1', [blob(np.ones((2, 3, 1, 1)))])]))
    with pytest.raises(CaffeFormatError, match=r"alexnet.caffemodel: no weights .*\['conv1'\]"):
        convert_minc_vgg16(other, tmp_path / 'out.pth')
    junk = tmp_path / 'junk.caffemodel'
    junk.write_bytes(b'\x0f' * 10)
    with pytest.raises(CaffeFormatError, match='junk.caffemodel: unsupported wire type 7'):
        read_caffemodel(junk)
    empty = tmp_path / 'empty.caffemodel'
    empty.write_bytes(b'')
    with pytest.raises(CaffeFormatError, match='empty.caffemodel: empty file'):
        read_caffemodel(empty)
    with pytest.raises(FileNotFoundError, match='absent.caffemodel'):
        read_caffemodel(tmp_path / 'absent.caffemodel')


def test_command_line(vgg_files, tmp_path, capsys):
    out = tmp_path / 'sub' / 'minc.pth'
    assert cli.main(['convert-minc', str(vgg_files[1]['v1']), '-o', str(out), '--json']) == 0
    report = json.loads(capsys.readouterr().out)
    assert report['tensors']['conv1_1.weight'] == [64, 3, 3, 3] and out.is_file()
    assert cli.main(['convert-minc', str(tmp_path / 'none.caffemodel'), '-o', str(out)]) == 2  # a user error (issue 9: exit 2 everywhere)
    assert 'none.caffemodel' in capsys.readouterr().err
