"""Tests of the headless voxel renderer and the PLY writer."""
import numpy as np
import pytest

from projects.OccDepth.occdepth.datasets.label_maps import (
    NYU_PALETTE, SEMANTICKITTI_PALETTE)
from projects.OccDepth.occdepth.models.utils.geometry import camera_frustum
from projects.OccDepth.occdepth.visualization import (render_comparison,
                                                      render_voxels, save_ply)

WHITE = (255, 255, 255)


def _count(img, colour):
    return int(np.all(img == np.asarray(colour, np.uint8), axis=-1).sum())


def _scene():
    grid = np.zeros((4, 4, 3), dtype=np.uint8)
    grid[:, :, 0] = 2  # floor
    grid[1, 1, 1] = 1  # ceiling-coloured block on the floor
    grid[2, 2, 1] = 255  # ignored, never drawn
    return grid


def test_render_not_blank_and_top_face_exact_colour():
    img = render_voxels(_scene(), NYU_PALETTE, size=(120, 160))
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8
    assert _count(img, WHITE) < img.shape[0] * img.shape[1]
    # Top faces keep the palette colour exactly; sides are darker.
    assert _count(img, NYU_PALETTE[1]) > 20
    assert _count(img, NYU_PALETTE[2]) > 100
    assert _count(img, NYU_PALETTE[3]) == 0


def test_top_down_view_shows_only_top_faces():
    # 4 px per voxel (no border lines), grid axes aligned with the image.
    img = render_voxels(
        _scene(), NYU_PALETTE, size=(32, 32), azimuth=180, elevation=90)
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    # Top-down: the floor (class 2) around the block (class 1), plus the
    # floor under the ignored voxel; no side face is visible.
    assert colours == {WHITE, NYU_PALETTE[1], NYU_PALETTE[2]}
    # The block covers one of the 16 columns of 4x4 pixels.
    assert _count(img, NYU_PALETTE[1]) == 16
    assert _count(img, NYU_PALETTE[2]) == 15 * 16


def test_fov_mask_greys_out_voxels():
    grid = np.zeros((3, 3, 3), dtype=np.uint8)
    grid[1, 1, 1] = 5
    fov = np.ones(grid.shape, dtype=bool)
    img = render_voxels(grid, NYU_PALETTE, size=(64, 64), fov_mask=fov)
    assert _count(img, NYU_PALETTE[5]) > 0
    fov[1, 1, 1] = False
    img = render_voxels(
        grid, NYU_PALETTE, size=(64, 64), fov_mask=fov.reshape(-1))
    assert _count(img, NYU_PALETTE[5]) == 0
    faded = np.rint(0.4 * np.asarray(NYU_PALETTE[5]) + 0.6 * 200)
    assert _count(img, faded) > 0


def test_up_axis_is_a_rotation():
    grid = _scene()
    grid[0, 3, 2] = 4
    ref = render_voxels(grid, NYU_PALETTE, size=(80, 100))
    # The same scene stored with the up axis second (e.g. NYU grids).
    other = render_voxels(
        grid.transpose(1, 2, 0), NYU_PALETTE, size=(80, 100), up_axis=1)
    np.testing.assert_array_equal(ref, other)


def test_frustum_and_image_plane():
    k = np.array([[10.0, 0, 3.5], [0, 10.0, 2.5], [0, 0, 1]])
    lidar2cam = np.eye(4)
    corners = camera_frustum(k, lidar2cam, (6, 8), distance=2.0)
    np.testing.assert_allclose(corners[0], [0, 0, 0], atol=1e-12)
    # Top-left image corner (-0.5, -0.5) at depth 2: ((u - cx) d / f, ...).
    np.testing.assert_allclose(corners[1], [-0.8, -0.6, 2.0], atol=1e-12)
    np.testing.assert_allclose(corners[3], [0.8, 0.6, 2.0], atol=1e-12)

    grid = np.zeros((4, 4, 4), dtype=np.uint8)
    grid[3, 3, 0] = 1
    # Camera at the grid centre looking along +x.
    cam2velo = np.array([[0, 0, 1, 2.0], [-1, 0, 0, 2.0], [0, -1, 0, 2.0],
                         [0, 0, 0, 1]])
    frustum = camera_frustum(k, np.linalg.inv(cam2velo), (6, 8), 1.5)
    image = np.zeros((6, 8, 3), dtype=np.uint8)
    image[:] = (10, 200, 30)
    plain = render_voxels(grid, SEMANTICKITTI_PALETTE, size=(100, 100))
    lines = render_voxels(
        grid, SEMANTICKITTI_PALETTE, size=(100, 100), camera_frustum=frustum)
    assert _count(plain, (20, 20, 20)) == 0
    assert _count(lines, (20, 20, 20)) > 30
    textured = render_voxels(
        grid,
        SEMANTICKITTI_PALETTE,
        size=(100, 100),
        camera_frustum=frustum,
        image=image)
    assert _count(textured, (10, 200, 30)) > 10
    with pytest.raises(ValueError, match='camera_frustum'):
        render_voxels(grid, SEMANTICKITTI_PALETTE, image=image)


def test_render_errors():
    grid = np.zeros((2, 2, 2), dtype=np.uint8)
    grid[0, 0, 0] = 12
    with pytest.raises(ValueError, match='label 12.*12 colours'):
        render_voxels(grid, NYU_PALETTE)
    with pytest.raises(ValueError, match='3D'):
        render_voxels(np.zeros((2, 2), np.uint8), NYU_PALETTE)
    with pytest.raises(ValueError, match='fov_mask'):
        render_voxels(grid % 12, NYU_PALETTE, fov_mask=np.ones(3, bool))


def test_render_comparison_layout():
    grid = _scene()
    image = np.full((30, 90, 3), 77, dtype=np.uint8)
    out = render_comparison(
        grid,
        grid,
        image=image,
        palette=NYU_PALETTE,
        voxel_size=1.0,
        origin=0.0,
        size=(60, 80))
    assert out.shape == (60 + 24, 3 * 80, 3)
    # Image panel: scaled to 80x27 and centred, below the title strip.
    assert _count(out[24:, :80], (77, 77, 77)) == 80 * 27
    # Titles are drawn in black-ish text in the strip.
    assert (out[:24].min(axis=-1) < 128).any()
    # Prediction and ground truth share one view.
    np.testing.assert_array_equal(out[24:, 80:160], out[24:, 160:])
    no_image = render_comparison(
        grid, grid, palette=NYU_PALETTE, size=(60, 80))
    assert no_image.shape == (84, 160, 3)
    with pytest.raises(ValueError, match='differs'):
        render_comparison(grid, grid[:3], palette=NYU_PALETTE)


def _read_ply(path):
    with open(path, 'rb') as f:
        data = f.read()
    end = data.index(b'end_header\n') + len(b'end_header\n')
    header = data[:end].decode('ascii').splitlines()
    counts = {
        line.split()[1]: int(line.split()[2])
        for line in header if line.startswith('element')
    }
    return header, counts, data[end:]


def test_save_ply_binary(tmp_path):
    grid = np.zeros((3, 3, 3), dtype=np.uint8)
    grid[0, 0, 0] = 1
    grid[1, 0, 0] = 9
    grid[2, 2, 2] = 255
    path = str(tmp_path / 'scene.ply')
    num_v, num_f = save_ply(
        path,
        grid,
        SEMANTICKITTI_PALETTE,
        voxel_size=0.2,
        origin=(0, -25.6, -2))
    # Two touching voxels: 12 faces minus the 2 shared ones.
    assert (num_v, num_f) == (40, 10)
    header, counts, body = _read_ply(path)
    assert header[1] == 'format binary_little_endian 1.0'
    assert counts == dict(vertex=40, face=10)
    assert len(body) == 40 * 15 + 10 * 17
    verts = np.frombuffer(
        body[:600], dtype=[('xyz', '<f4', (3, )), ('rgb', 'u1', (3, ))])
    faces = np.frombuffer(
        body[600:], dtype=[('n', 'u1'), ('idx', '<i4', (4, ))])
    xyz = verts['xyz'].astype(np.float64)
    np.testing.assert_allclose(xyz.min(0), [0, -25.6, -2], atol=1e-5)
    np.testing.assert_allclose(xyz.max(0), [0.4, -25.4, -1.8], atol=1e-5)
    assert {tuple(c)
            for c in verts['rgb']
            } == {SEMANTICKITTI_PALETTE[1], SEMANTICKITTI_PALETTE[9]}
    assert (faces['n'] == 4).all() and faces['idx'].max() == 39
    # Outward winding: the normal points away from the owning voxel.
    quads = xyz[faces['idx']]
    normal = np.cross(quads[:, 1] - quads[:, 0], quads[:, 2] - quads[:, 0])
    centre = quads.mean(axis=1)
    owner = np.where(centre[:, :1] < 0.2, 0.1, 0.3)
    inner = np.stack(
        [owner[:, 0], np.full(10, -25.5),
         np.full(10, -1.9)], axis=1)
    assert (np.einsum('ij,ij->i', normal, centre - inner) > 0).all()


def test_save_ply_ascii_and_errors(tmp_path):
    grid = np.zeros((2, 2, 2), dtype=np.uint8)
    grid[1, 1, 1] = 3
    path = str(tmp_path / 'one.ply')
    assert save_ply(path, grid, NYU_PALETTE, binary=False) == (24, 6)
    header, counts, body = _read_ply(path)
    assert header[1] == 'format ascii 1.0'
    lines = body.decode('ascii').splitlines()
    assert len(lines) == counts['vertex'] + counts['face'] == 30
    assert lines[0].split()[3:] == [str(c) for c in NYU_PALETTE[3]]
    assert all(line.startswith('4 ') for line in lines[24:])
    with pytest.raises(FileNotFoundError, match='missing'):
        save_ply(str(tmp_path / 'missing' / 'x.ply'), grid, NYU_PALETTE)
