#include "io/table.hpp"

#include <ostream>

#include "core/error.hpp"

namespace sfb::io {
namespace {

std::string csv_cell(const std::string& cell) {
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string out = "\"";
  for (const char c : cell) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void print_row(const std::vector<std::string>& cells, std::size_t width, TableFormat format,
               std::ostream& os) {
  const bool md = format == TableFormat::kMarkdown;
  std::string line;
  for (std::size_t i = 0; i < width; ++i) {
    const std::string cell = i < cells.size() ? cells[i] : "";
    line += (i ? (md ? " | " : ",") : "") + (md ? cell : csv_cell(cell));
  }
  os << (md ? "| " + line + " |" : line) << "\n";
}

}  // namespace

TableFormat parse_table_format(const std::string& name) {
  if (name == "md") return TableFormat::kMarkdown;
  if (name == "csv") return TableFormat::kCsv;
  throw ConfigError("table format '" + name + "' is not one of md|csv");
}

void print_tables(const std::vector<Table>& tables, TableFormat format, std::ostream& os) {
  const bool md = format == TableFormat::kMarkdown;
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const Table& table = tables[t];
    if (t > 0) os << "\n";
    const std::size_t width = table.header.size();
    print_row(table.header, width, format, os);
    if (md) print_row(std::vector<std::string>(width, "---"), width, format, os);
    for (const auto& row : table.rows) print_row(row, width, format, os);
    if (!table.footnotes.empty() && md) os << "\n";
    for (const auto& note : table.footnotes) os << "# " << note << "\n";
  }
}

}  // namespace sfb::io
