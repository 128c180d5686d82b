"""stnutils.validation: every bad argument is a ValueError that names the parameter."""
import math

import pytest
import torch

from stnutils.validation import check_choice, check_positive_int, check_range, check_tensor


# --- check_tensor --------------------------------------------------------------------------------
def test_check_tensor_returns_the_value_unchanged():
    x = torch.zeros(3, 1, 28, 28)
    assert check_tensor("images", x, (None, 1, 28, 28)) is x
    assert check_tensor("theta", torch.zeros(2, 2, 3), shape=(None, 2, 3), floating=True).shape == (2, 2, 3)
    assert check_tensor("anything", torch.zeros(5)) is not None  # no shape: any tensor
    assert check_tensor("x", torch.zeros(2, 3, 4), ("N", "C", 4)).shape == (2, 3, 4)  # letters match any size
    assert check_tensor("x", torch.zeros(2, 3), (2, None)).shape == (2, 3)  # a fixed first size


@pytest.mark.parametrize(
    "value, shape, match",
    [
        (torch.zeros(2, 28, 28), (None, 1, 28, 28), r"^images must be an \(N, 1, 28, 28\) tensor, got \(2, 28, 28\)$"),
        (torch.zeros(2, 3, 28, 28), (None, 1, 28, 28),
         r"^images must be an \(N, 1, 28, 28\) tensor, got \(2, 3, 28, 28\)$"),
        (torch.zeros(2, 1, 28, 27), (None, 1, 28, 28),
         r"^images must be an \(N, 1, 28, 28\) tensor, got \(2, 1, 28, 27\)$"),
        (torch.zeros(4, 3, 3), (None, 2, 3), r"^images must be an \(N, 2, 3\) tensor, got \(4, 3, 3\)$"),
        (torch.zeros(3, 3), (2, None), r"^images must be a \(2, N\) tensor, got \(3, 3\)$"),
        (torch.zeros(3), (None, None), r"^images must be an \(N, M\) tensor, got \(3,\)$"),
    ],
)
def test_check_tensor_shape_errors_name_the_parameter_and_the_shapes(value, shape, match):
    with pytest.raises(ValueError, match=match):
        check_tensor("images", value, shape)


def test_check_tensor_names_whatever_parameter_it_is_given():
    for name in ("theta", "grid", "codes"):
        with pytest.raises(ValueError, match=rf"^{name} must be an \(N, 2, 3\) tensor"):
            check_tensor(name, torch.zeros(1, 3), (None, 2, 3))


@pytest.mark.parametrize("value, kind", [([[1.0, 2.0]], "list"), (None, "NoneType"), (3.0, "float")])
def test_check_tensor_rejects_non_tensors(value, kind):
    with pytest.raises(ValueError, match=rf"^theta must be an \(N, 2, 3\) tensor, got {kind}$"):
        check_tensor("theta", value, (None, 2, 3))
    with pytest.raises(ValueError, match=rf"^theta must be a tensor, got {kind}$"):
        check_tensor("theta", value)


def test_check_tensor_dtype_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"^images must be a floating-point tensor, got dtype torch.uint8$"):
        check_tensor("images", torch.zeros(1, 1, 4, 4, dtype=torch.uint8), (None, 1, 4, 4), floating=True)
    assert check_tensor("images", torch.zeros(1, dtype=torch.float16), floating=True).dtype == torch.float16
    with pytest.raises(ValueError, match=r"^labels must have dtype torch.int64, got torch.int32$"):
        check_tensor("labels", torch.zeros(3, dtype=torch.int32), (None,), dtype=torch.int64)
    assert check_tensor("labels", torch.zeros(3, dtype=torch.int64), dtype=torch.int64).dtype == torch.int64


def test_check_tensor_min_len_errors_name_the_parameter():
    with pytest.raises(ValueError, match=r"^offsets must hold at least 2 rows, got 1$"):
        check_tensor("offsets", torch.zeros(1, 2), (None, 2), min_len=2)
    with pytest.raises(ValueError, match=r"^offsets must hold at least 1 rows, got 0$"):
        check_tensor("offsets", torch.zeros(0, 2), (None, 2), min_len=1)
    assert len(check_tensor("offsets", torch.zeros(2, 2), (None, 2), min_len=2)) == 2
    assert check_tensor("scalar", torch.tensor(1.0), min_len=5).dim() == 0  # a 0-d tensor has no rows to count


def test_check_tensor_checks_shape_before_dtype():
    with pytest.raises(ValueError, match=r"must be an \(N, 1, 28, 28\) tensor"):
        check_tensor("images", torch.zeros(2, 28, 28, dtype=torch.uint8), (None, 1, 28, 28), floating=True)


# --- the number checks ---------------------------------------------------------------------------
def test_check_range_bounds_and_messages():
    assert check_range("lr", 0.01, 0, None, low_open=True) == 0.01
    with pytest.raises(ValueError, match=r"^lr must be in \(0, inf\], got 0$"):
        check_range("lr", 0, 0, None, low_open=True)
    with pytest.raises(ValueError, match=r"^momentum must be in \[0, 1\), got 1.0$"):
        check_range("momentum", 1.0, 0, 1, high_open=True)
    with pytest.raises(ValueError, match=r"^noise must be a number in \[0, 1\], got 'loud'$"):
        check_range("noise", "loud", 0, 1)
    with pytest.raises(ValueError, match=r"^noise must be a number in \[0, 1\], got nan$"):
        check_range("noise", math.nan, 0, 1)


def test_check_choice_and_positive_int():
    assert check_choice("mode", "affine", ("affine", "attention")) == "affine"
    with pytest.raises(ValueError, match=r"^mode must be one of \['affine', 'attention'\], got 'zoom'$"):
        check_choice("mode", "zoom", ("affine", "attention"))
    assert check_positive_int("n", 3) == 3
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(ValueError, match=r"^n must be a positive integer, got "):
            check_positive_int("n", bad)
