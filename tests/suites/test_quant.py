"""Quantization formats against hand-made blocks: scales, codes, round trips."""

import pytest
import torch

from fibench.suites import quant


def test_fp8_per_tensor_scale_is_amax_over_448_and_round_trips_representable_values():
    t = torch.tensor([[0.5, -2.0], [1.0, 4.0]])
    q, s = quant.fp8_per_tensor(t)
    assert s.item() == pytest.approx(4.0 / 448)
    assert q.dtype == torch.float8_e4m3fn
    assert q.float().abs().max().item() == 448.0  # the amax element maps to the largest fp8 value
    assert torch.allclose(q.float() * s, t, rtol=2 ** -4)  # e4m3: 3 mantissa bits
    zq, zs = quant.fp8_per_tensor(torch.zeros(3))
    assert zs.item() == 1.0 and torch.equal(zq.float(), torch.zeros(3))


def test_fp8_block_scales_are_per_128x128_block():
    w = torch.zeros(256, 128)
    w[:128] = 2.0   # block (0, 0): amax 2
    w[128:] = -0.5  # block (1, 0): amax 0.5
    w[5, 7] = 7.0   # raises block (0, 0) amax to 7
    q, s = quant.fp8_block_quantize(w)
    assert s.shape == (2, 1)
    assert s[0, 0].item() == pytest.approx(7.0 / 448) and s[1, 0].item() == pytest.approx(0.5 / 448)
    assert q[5, 7].float().item() == 448.0 and q[200, 3].float().item() == -448.0
    deq = quant.fp8_block_dequantize(q, s)
    assert deq[5, 7].item() == pytest.approx(7.0) and deq[200, 3].item() == pytest.approx(-0.5)
    assert deq[0, 0].item() == pytest.approx(2.0, rel=2 ** -4)
    with pytest.raises(ValueError, match="multiple of 128x128"):
        quant.fp8_block_quantize(torch.ones(128, 100))


def test_fp8_block_round_trip_error_is_bounded_by_half_an_e4m3_step():
    w = torch.randn(3, 256, 384, generator=torch.Generator().manual_seed(0))
    q, s = quant.fp8_block_quantize(w)
    assert s.shape == (3, 2, 3)
    err = (quant.fp8_block_dequantize(q, s) - w).abs()
    # relative step of e4m3 normals is 2^-3: error <= half a step of |w| (plus subnormal floor)
    assert bool((err <= w.abs() * 2 ** -4 + 2 ** -9 * s.max()).all())


def test_fp8_group_quantize_mirrors_the_kernel_formula():
    x = torch.zeros(2, 256, dtype=torch.bfloat16)
    x[0, :128] = 3.0
    x[0, 10] = -6.0
    x[1, 200] = 0.25
    q, s = quant.fp8_group_quantize(x)
    assert s.shape == (2, 2)
    assert s[0, 0].item() == pytest.approx(6.0 / 448) and s[1, 1].item() == pytest.approx(0.25 / 448)
    assert s[0, 1].item() == 1.0  # an all-zero group gets s = 1 (scale 448 / amax skipped)
    assert q[0, 10].float().item() == -448.0 and q[0, 0].float().item() == 224.0
    assert torch.allclose(quant.fp8_group_dequantize(q, s), x.float())


def test_e2m1_codes_round_to_nearest_even_and_saturate():
    v = torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 5.1, 7.0, 100.0, -0.6, -3.0])
    codes = quant.e2m1_encode(v)
    # ties: 0.25->0 (code 0), 0.75->1.0 (code 2), 1.25->1.0, 1.75->2.0, 2.5->2.0, 3.5->4.0, 5.0->4.0
    assert codes.tolist() == [0, 0, 2, 2, 4, 4, 6, 6, 7, 7, 7, 8 | 1, 8 | 5]
    assert quant.e2m1_decode(codes).tolist() == [0, 0, 1, 1, 2, 2, 4, 4, 6, 6, 6, -0.5, -3.0]


def test_pack_puts_the_even_element_in_the_low_nibble():
    packed = quant.pack_e2m1(torch.tensor([1, 15, 7, 0]))
    assert packed.tolist() == [0xF1, 0x07]
    assert quant.unpack_e2m1(packed).tolist() == [0.5, -6.0, 6.0, 0.0]
    with pytest.raises(ValueError, match="odd"):
        quant.pack_e2m1(torch.tensor([1, 2, 3]))


def test_mxfp4_shared_exponent_follows_the_ocp_rule():
    block = torch.zeros(64)
    block[:32] = torch.linspace(-3.0, 3.0, 32)       # amax 3: floor(log2 3) - 2 = -1 -> code 126
    block[32:] = 0.0                                  # all zero -> code 0
    block[40] = 12.0                                  # amax 12: floor(log2 12) - 2 = 1 -> code 128
    packed, scales = quant.mxfp4_quantize(block)
    assert scales.tolist() == [126, 128]
    deq = quant.mxfp4_dequantize(packed, scales)
    assert deq[40].item() == 12.0 and deq[0].item() == -3.0  # 12 = 6 x 2^1, -3 = -6 x 2^-1
    assert deq[31].item() == 3.0
    # every element lands on the E2M1 grid times the block scale, within half a grid step
    grid = torch.tensor(quant.E2M1_VALUES) * 0.5
    assert bool(((deq[:32].abs().unsqueeze(1) - grid).abs().min(dim=1).values == 0).all())
    assert bool(((deq[:32] - block[:32]).abs() <= (6 - 4) * 0.5 / 2 + 1e-6).all())  # half the widest gap (4..6) x scale 0.5


def test_mxfp4_round_trip_on_random_weights():
    w = torch.randn(4, 96, generator=torch.Generator().manual_seed(1))
    packed, scales = quant.mxfp4_quantize(w)
    assert packed.shape == (4, 48) and scales.shape == (4, 3) and packed.dtype == torch.uint8
    deq = quant.mxfp4_dequantize(packed, scales)
    rel = (deq - w).norm() / w.norm()
    assert 0.05 < rel < 0.2  # 4-bit: a real but bounded error
    assert torch.equal(quant.mxfp4_quantize(deq)[0], packed)  # quantizing the grid values is exact
    with pytest.raises(ValueError, match="MX block"):
        quant.mxfp4_quantize(torch.ones(40))
