// Lookups and parsers over the tables of cell_table.h.
#include "cell_table.h"

#include <iterator>
#include <stdexcept>

namespace pyrnn {
namespace {

// Each table is indexed by its enum, and an Elman cell's activation has a kernel.
constexpr bool tables_consistent() {
  for (std::size_t i = 0; i < std::size(kActivations); ++i)
    if (static_cast<std::size_t>(kActivations[i].id) != i) return false;
  for (std::size_t i = 0; i < std::size(kCells); ++i) {
    if (static_cast<std::size_t>(kCells[i].id) != i) return false;
    if (!kCells[i].gated && static_cast<int>(kCells[i].activation) >= kRnnActivations) return false;
  }
  return true;
}
static_assert(tables_consistent(), "kCells and kActivations must be indexed by their enums");

// "a, b, c": the names of a table, for error messages.
template <class Table>
std::string names_of(const Table& table) {
  std::string out;
  for (const auto& row : table) out += (out.empty() ? "" : ", ") + std::string(row.name);
  return out;
}

}  // namespace

const CellInfo& cell_info(Cell cell) { return kCells[static_cast<int>(cell)]; }

const char* activation_name(Activation act) { return kActivations[static_cast<int>(act)].name; }

Cell parse_cell(const std::string& name) {
  for (const CellInfo& row : kCells)
    if (name == row.name) return row.id;
  throw std::invalid_argument("cell must be one of " + names_of(kCells) + "; got '" + name + "'");
}

Activation parse_activation(const char* what, const std::string& name) {
  for (const ActivationInfo& row : kActivations)
    if (name == row.name) return row.id;
  throw std::invalid_argument(std::string(what) + " must be one of " + names_of(kActivations) + "; got '" + name + "'");
}

GatedActivations parse_activations(Cell cell, const std::string& activation, const std::string& recurrent_activation) {
  const GatedActivations acts{parse_activation("recurrent_activation", recurrent_activation),
                              parse_activation("activation", activation)};
  const GatedActivations defaults;
  if (!cell_info(cell).gated && (acts.gate != defaults.gate || acts.cell != defaults.cell))
    throw std::invalid_argument("activation/recurrent_activation: only gru and lstm take them (rnn: name the cell, e.g. rnn_relu)");
  return acts;
}

}  // namespace pyrnn
