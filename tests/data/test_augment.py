import torch
import torch.nn.functional as F

from kdlab.data.augment import random_crop, random_hflip


def test_crop_is_a_window_of_the_padded_image():
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(16):
        windows = [(dy, dx) for dy in range(5) for dx in range(5)
                   if torch.equal(padded[i, :, dy:dy + 8, dx:dx + 8], out[i])]
        assert windows, f"sample {i} is not a crop"
        offsets.add(windows[0])
    assert len(offsets) > 3  # offsets differ between samples


def test_flip_flips_about_half_and_is_seeded():
    x = torch.arange(2000 * 4, dtype=torch.float32).view(2000, 1, 1, 4)
    a = random_hflip(x, torch.Generator().manual_seed(1))
    b = random_hflip(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    flipped = (a[:, 0, 0, 0] == x[:, 0, 0, 3])
    assert torch.all(flipped | (a[:, 0, 0, 0] == x[:, 0, 0, 0]))
    assert 0.45 < flipped.float().mean() < 0.55
