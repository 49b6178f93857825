"""`python main.py demo --reset` never removes the data of a demo that is running: a second demo on the same
folder, or on busy ports, stops with one line before touching anything."""

from __future__ import annotations

import socket

from bot.emulator.demo import _hold_data_dir, run_demo


def _free_port_pair() -> int:
    while True:
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def test_a_second_demo_on_the_same_folder_stops_and_leaves_the_data(tmp_path, capsys):
    data = tmp_path / "demo"
    data.mkdir()
    (data / "assistant.db").write_bytes(b"the running demo's database")
    held = _hold_data_dir(data)
    assert held is not None
    try:
        assert run_demo(host="127.0.0.1", port=_free_port_pair(), data_dir=data, reset=True) == 2
        err = capsys.readouterr().err
        assert "另一个 demo" in err and str(data) in err and "Ctrl+C" in err
        assert (data / "assistant.db").read_bytes() == b"the running demo's database"
    finally:
        held.close()
    again = _hold_data_dir(data)  # released with its holder
    assert again is not None
    again.close()


def test_busy_ports_stop_the_demo_before_reset(tmp_path, capsys):
    data = tmp_path / "demo"
    data.mkdir()
    (data / "assistant.db").write_bytes(b"kept")
    port = _free_port_pair()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        assert run_demo(host="127.0.0.1", port=port, data_dir=data, reset=True) == 2
    err = capsys.readouterr().err
    assert f"端口 {port + 1} 已被占用" in err and "--port" in err
    assert (data / "assistant.db").read_bytes() == b"kept"
