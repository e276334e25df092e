"""The complexity report's table: the labels' value once, not repeated under every temperature."""

from kdlab.reports.complexity import kernel_table


def _result(temps, labels=0.5):
    epochs = [1, 2]
    teacher = {t: [{"epoch": e, "adjusted": 1.0 / (t * e)} for e in epochs] for t in temps}
    return {"student_model": "mlp", "n": 64,
            "kernels": {"init": {"labels": {"adjusted": labels}, "teacher": teacher, "jitter": 1e-6}}}


def test_labels_are_shown_once():
    table = kernel_table(_result([1.0, 2.0, 4.0]), "init")
    assert table.columns == ["targets", "tau = 1.0", "tau = 2.0", "tau = 4.0"]
    assert table.rows[:2] == [["teacher epoch 1", "1.0000", "0.5000", "0.2500"],
                              ["teacher epoch 2", "0.5000", "0.2500", "0.1250"]]
    assert table.rows[-1] == ["labels (one-hot, any tau)", "0.5000", "", ""]
    assert "labels do not depend on tau" in table.title
    assert all(len(row) == len(table.columns) for row in table.rows)


def test_one_temperature():
    table = kernel_table(_result([2.0], labels=0.25), "init")
    assert table.rows[-1] == ["labels (one-hot, any tau)", "0.2500"]
