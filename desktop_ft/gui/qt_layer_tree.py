"""A ``QAbstractItemModel`` over the core :class:`LayerTree`, and its view.

Thread rule: a Qt model may only be touched from the thread it lives in. The core tree
can change in a worker (two-phase training switches it between phases), so its change
callback only emits :attr:`QtLayerTreeModel.treeChanged`; the queued connection delivers
that to :meth:`QtLayerTreeModel._on_tree_changed` in the GUI thread, which repaints.
``thread_violations`` counts any repaint attempted from another thread (tests assert 0).
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, QThread, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTreeView

from desktop_ft.core.layer_tree import OFF, ON, LayerTree, Node

COLUMNS = ("Layer (tick to train)", "Type", "Output shape", "Parameters", "Trainable")
CHECK_COL = 0          # the checkbox sits next to the layer's name
TRAINABLE_COL = 4      # trainable parameter count
_CHECK = {ON: Qt.CheckState.Checked, OFF: Qt.CheckState.Unchecked}


class QtLayerTreeModel(QAbstractItemModel):
    """Rows are tree nodes; each name has a tri-state checkbox (a group shows partial
    when only some of its layers train; checking it cascades)."""

    totalsChanged = Signal(int, int)   # trainable, frozen
    treeChanged = Signal()             # emitted from any thread; handled in the GUI thread

    def __init__(self, parent=None):
        super().__init__(parent)
        self._tree: LayerTree | None = None
        self._read_only = False
        self.thread_violations = 0
        self.treeChanged.connect(self._on_tree_changed, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------- wiring
    @property
    def tree(self) -> LayerTree | None:
        return self._tree

    def set_tree(self, tree: LayerTree | None) -> None:
        self.beginResetModel()
        self._tree = tree
        self.endResetModel()
        if tree is not None:
            tree.subscribe(self._tree_callback)
        self._emit_totals()

    def _tree_callback(self, nodes) -> None:
        if QThread.currentThread() is self.thread():
            self._refresh_all()          # an edit in the window: repaint now
        else:
            self.treeChanged.emit()      # a worker's edit: queued to the GUI thread

    def set_read_only(self, value: bool) -> None:
        """While training, the tree cannot be edited."""
        self._read_only = value
        self._refresh_all()

    @property
    def read_only(self) -> bool:
        return self._read_only

    @Slot()
    def _on_tree_changed(self) -> None:
        self._refresh_all()

    def _refresh_all(self) -> None:
        if QThread.currentThread() is not self.thread():
            self.thread_violations += 1
            return
        if self._tree is None:
            return
        # Every row's check state and counts may have changed. One layout change makes the
        # view measure the rows once; a dataChanged per row (or per parent's rows) made it
        # re-measure every visible row for its resize-to-contents columns each time: 0.67 s
        # a click for MiniLM's 75 rows, against 0.03 s (nothing moves, so expanded rows and
        # the selection stay).
        self.layoutAboutToBeChanged.emit()
        self.layoutChanged.emit()
        self._emit_totals()

    def _emit_totals(self) -> None:
        if self._tree is not None:
            self.totalsChanged.emit(*self._tree.totals())

    # ------------------------------------------------------------- helpers
    def node(self, index: QModelIndex) -> Node | None:
        if not index.isValid():
            return None
        return index.internalPointer()

    def _index_of(self, node: Node, column: int) -> QModelIndex:
        if node is None or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, column, node)

    def index_for_path(self, path: str) -> QModelIndex:
        return self._index_of(self._tree.find(path), 0) if self._tree else QModelIndex()

    # ------------------------------------------------------------- Qt API
    def index(self, row, column, parent=QModelIndex()):
        if self._tree is None or not self.hasIndex(row, column, parent):
            return QModelIndex()
        parent_node = self.node(parent) or self._tree.root
        if row >= len(parent_node.children):
            return QModelIndex()
        return self.createIndex(row, column, parent_node.children[row])

    def parent(self, index=QModelIndex()):
        node = self.node(index)
        if node is None or node.parent is None or node.parent is self._tree.root:
            return QModelIndex()
        return self.createIndex(node.parent.row, 0, node.parent)

    def rowCount(self, parent=QModelIndex()):
        if self._tree is None:
            return 0
        if parent.isValid() and parent.column() != 0:
            return 0
        node = self.node(parent) or self._tree.root
        return len(node.children)

    def columnCount(self, parent=QModelIndex()):
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        f = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == CHECK_COL and not self._read_only:
            f |= Qt.ItemFlag.ItemIsUserCheckable
        return f

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        node = self.node(index)
        if node is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return node.name
            if col == 1:
                return node.kind if node.is_leaf else ("block" if node.kind == "block"
                                                       else node.kind)
            if col == 2:
                return node.output_shape
            if col == 3:
                return f"{node.params:,}"
            if col == TRAINABLE_COL:
                return f"{node.trainable_params:,}" if node.trainable_params else ""
        if role == Qt.ItemDataRole.CheckStateRole and col == CHECK_COL:
            return _CHECK.get(node.state, Qt.CheckState.PartiallyChecked)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, TRAINABLE_COL):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{node.path}", f"type: {node.kind}"]
            if node.input_shape:
                lines.append(f"input: {node.input_shape}")
            if node.output_shape:
                lines.append(f"output: {node.output_shape}")
            lines.append(f"parameters: {node.params:,} ({node.trainable_params:,} trainable)")
            if node.is_new:
                lines.append("new layer (randomly initialised head)")
            return "\n".join(lines)
        return None

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole):
        node = self.node(index)
        if (node is None or role != Qt.ItemDataRole.CheckStateRole
                or index.column() != CHECK_COL or self._read_only):
            return False
        state = Qt.CheckState(value) if not isinstance(value, Qt.CheckState) else value
        self._tree.set_trainable(node, state == Qt.CheckState.Checked)
        return True

    def toggle(self, indexes) -> None:
        """Flip each given row (Space in the view): partial or frozen → on, on → off."""
        if self._read_only or self._tree is None:
            return
        nodes = []
        for idx in indexes:
            n = self.node(idx)
            if n is not None and n not in nodes:
                nodes.append(n)
        targets = [(n, n.state != ON) for n in nodes]
        for n, value in targets:
            self._tree.set_trainable(n, value, notify=False)
        self._refresh_all()


class LayerTreeView(QTreeView):
    """The tree with a context menu and Space to toggle selected rows."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("layerTree")
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setUniformRowHeights(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu)

    def setModel(self, model) -> None:
        super().setModel(model)
        # Every column as wide as its contents (names are never elided); a narrow panel
        # scrolls sideways instead.
        header = self.header()
        header.setStretchLastSection(False)
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space:
            rows = [i for i in self.selectionModel().selectedIndexes() if i.column() == 0]
            self.model().toggle(rows)
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_context_menu(self, pos) -> None:
        menu = self.build_context_menu(self.indexAt(pos))
        menu.exec(self.viewport().mapToGlobal(pos))

    def build_context_menu(self, index) -> QMenu:
        """The actions offered for ``index`` (also used by tests, without exec)."""
        model: QtLayerTreeModel = self.model()
        node = model.node(index)
        menu = QMenu(self)
        enabled = node is not None and not model.read_only
        tree = model.tree

        def add(text, fn, on=enabled):
            action = QAction(text, menu)
            action.setEnabled(on)
            action.triggered.connect(fn)
            menu.addAction(action)
            return action

        if node is not None:
            block = node
            while block.parent is not None and block.parent is not tree.root:
                block = block.parent
            add("Freeze up to here", lambda: tree.freeze_up_to(node))
            add("Unfreeze from here", lambda: tree.unfreeze_from(node))
            verb = "Unfreeze" if block.state != ON else "Freeze"
            add(f"{verb} this block ({block.name})",
                lambda: tree.set_trainable(block, block.state != ON))
            menu.addSeparator()
        add("Expand all", self.expandAll, True)
        add("Collapse all", self.collapseAll, True)
        return menu
