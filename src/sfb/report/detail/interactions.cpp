// Multi-order interactions (paper 001): I^(m), J^(m), ΔJ^(m) and D^(m) over the orders, clean
// (solid) against adversarial (dashed) inputs, one colour per model, ±1 standard error.
#include "io/svg_chart.hpp"
#include "report/detail/sections.hpp"
#include "report/html.hpp"

namespace sfb::report::detail {
namespace {

struct Quantity {
  const char* key;  // figure key
  const char* nor;  // curve of clean inputs ("" when the quantity has one curve)
  const char* adv;  // curve of adversarial inputs
  const char* title;
  const char* ylabel;
  const char* caption;
};

constexpr Quantity kQuantities[] = {
    {"interactions-I", "I_nor", "I_adv", "Interaction strength I^(m) by order",
     "I^(m) (log-probability units, nats)",
     "The mean interaction I^(m) = E_x E_{i\u2260j} E_{|S|=m} \u0394v(i,j,S) of patch pairs at "
     "each order m, for clean inputs (solid) and adversarial examples (dashed; v = log p of the "
     "true class), \u00b11 standard error over images (/interactions/I_nor, I_adv)."},
    {"interactions-J", "J_nor", "J_adv", "Normalized interaction J^(m) by order", "J^(m) (nats)",
     "J^(m) = (n_p \u2212 1 \u2212 m)/(n_p(n_p \u2212 1)) \u00b7 I^(m), the order-m term of "
     "the interactions' efficiency decomposition (paper 001, \u00a73), clean (solid) and "
     "adversarial (dashed), \u00b11 standard error "
     "(/interactions/J_nor, J_adv)."},
    {"interactions-dJ", "", "dJ", "Attacking utility \u0394J^(m) = J_nor \u2212 J_adv by order",
     "\u0394J^(m) (nats)",
     "How much of the interactions of each order the attack removes: \u0394J^(m) = J^(m) of the "
     "clean input minus J^(m) of its adversarial example, \u00b11 standard error "
     "(/interactions/dJ)."},
    {"interactions-D", "D_nor", "D_adv", "Disentanglement D^(m) by order", "D^(m) (dimensionless)",
     "D^(m) = E |E_S \u0394v| / E_S |\u0394v| (paper 001, Eq. 4): 1 when the pair's interaction "
     "has one sign over all contexts, "
     "near 0 when contexts cancel; clean (solid) and adversarial (dashed), \u00b11 standard "
     "error (/interactions/D_nor, D_adv)."},
};

void add_curve(io::svg::XyPlot& p, const InteractionsData& x, const char* name,
               const std::string& label, const std::string& col, bool dashed) {
  const Values* v = x.find(name);
  if (v == nullptr) return;
  io::svg::Series s;
  s.label = label;
  s.color = col;
  s.dashed = dashed;
  s.x = x.order_ratio;
  s.y = v->value;
  s.y_err = v->se;
  p.series.push_back(std::move(s));
}

}  // namespace

std::string interactions_section(const Zoo& zoo) {
  std::vector<std::size_t> files;
  for (std::size_t f = 0; f < zoo.files.size(); ++f) {
    if (zoo.files[f].interactions) files.push_back(f);
  }
  if (files.empty()) {
    return section("interactions", "Multi-order interactions",
                   absent("interactions", "no interactions results among the inputs"));
  }
  std::string body;
  for (const Quantity& q : kQuantities) {
    io::svg::XyPlot p;
    p.title = q.title;
    p.xlabel = "order m / n_p (m = patches kept besides the pair)";
    p.ylabel = q.ylabel;
    std::vector<std::size_t> used;
    for (const std::size_t f : files) {
      const InteractionsData& x = *zoo.files[f].interactions;
      const int m = model_of(zoo, f);
      int same = 0;  // interactions files of the same model: told apart by their stems
      for (const std::size_t g : files) same += model_of(zoo, g) == m;
      const std::string label = label_of(zoo, f) + (same > 1 ? " (" + zoo.files[f].stem + ")" : "");
      const std::string col = colour(m < 0 ? zoo.models.size() + f : static_cast<std::size_t>(m));
      const std::size_t before = p.series.size();
      if (*q.nor) {
        add_curve(p, x, q.nor, label + " clean", col, false);
        add_curve(p, x, q.adv, label + " adversarial", col, true);
      } else {
        add_curve(p, x, q.adv, label, col, false);
      }
      if (p.series.size() > before) used.push_back(f);
    }
    if (used.empty()) {
      body += absent(q.key, std::string("no ") + q.adv +
                                " curve among the interactions results (it needs the "
                                "adversarial side: interactions with the attack)");
      continue;
    }
    const auto& x0 = *zoo.files[used.front()].interactions;
    body += chart_figure(q.key, p,
                         std::string(q.caption) + " Grid " + std::to_string(x0.grid) + "\u00d7" +
                             std::to_string(x0.grid) +
                             " patches (n_p = " + std::to_string(x0.grid * x0.grid) + "), " +
                             std::to_string(x0.n) + " images in the first file.",
                         paths(zoo, used), std::string("no finite ") + q.adv + " value");
  }
  return section("interactions", "Multi-order interactions",
                 "<div class=\"sfb-figures\">" + body + "</div>");
}

}  // namespace sfb::report::detail
