// Curves of single runs: sorted C_i and activation differences (paper 000), the robust accuracy
// after each attack stage (AutoAttack), and training curves.
#include <cmath>
#include <set>

#include "attribution/agreement.hpp"
#include "io/svg_chart.hpp"
#include "report/detail/sections.hpp"
#include "report/html.hpp"

namespace sfb::report::detail {
namespace {

std::vector<double> ranks(std::size_t k) {
  std::vector<double> x(k);
  for (std::size_t i = 0; i < k; ++i) x[i] = static_cast<double>(i + 1);
  return x;
}

// The series label of file f: its model's label, with the file's stem when the model has several
// files of the same kind (`count` of them).
std::string series_label(const Zoo& zoo, std::size_t f, int count) {
  return label_of(zoo, f) + (count > 1 ? " (" + zoo.files[f].stem + ")" : "");
}

// Per model, how many of its files satisfy `has`.
template <class Pred>
std::vector<int> per_model_count(const Zoo& zoo, Pred has) {
  std::vector<int> n(zoo.models.size() + 1, 0);
  for (std::size_t f = 0; f < zoo.files.size(); ++f) {
    const int m = model_of(zoo, f);
    if (has(zoo.files[f])) ++n[m < 0 ? zoo.models.size() : static_cast<std::size_t>(m)];
  }
  return n;
}

std::size_t colour_index(const Zoo& zoo, std::size_t f) {
  const int m = model_of(zoo, f);
  return m < 0 ? zoo.models.size() + f : static_cast<std::size_t>(m);
}

int count_of(const Zoo& zoo, const std::vector<int>& n, std::size_t f) {
  const int m = model_of(zoo, f);
  return n[m < 0 ? zoo.models.size() : static_cast<std::size_t>(m)];
}

}  // namespace

std::string sf_section(const Zoo& zoo) {
  std::string body;
  io::svg::XyPlot p;
  p.title = "Neuron Shapley values C_i, sorted (paper 000, Fig. 6)";
  p.xlabel = "neuron rank by C_i (1 = largest)";
  p.ylabel = "C_i (units of the SF target)";
  const auto n_sf = per_model_count(zoo, [](const FileData& d) { return !d.sf_sorted.empty(); });
  std::vector<std::size_t> files;
  for (std::size_t f = 0; f < zoo.files.size(); ++f) {
    const FileData& d = zoo.files[f];
    if (d.sf_sorted.empty()) continue;
    io::svg::Series s;
    s.label = series_label(zoo, f, count_of(zoo, n_sf, f));
    s.color = colour(colour_index(zoo, f));
    s.x = ranks(d.sf_sorted.size());
    s.y = d.sf_sorted;
    p.series.push_back(std::move(s));
    files.push_back(f);
  }
  if (files.empty()) {
    body += absent("sf-sorted", "no SF results (sf or eval) among the inputs");
  } else {
    body += chart_figure(
        "sf-sorted", p,
        "The global Shapley values C_i of the probed layer's neurons (mean over the "
        "evaluated samples of a_i \u00b7 \u2202t/\u2202a_i), sorted in descending "
        "order, one curve per SF run (/sf/sorted). A flatter curve means a smaller SF.",
        paths(zoo, files), "no finite C_i in the SF runs");
  }
  // Activation differences of eval runs, one figure per file with any.
  std::string diffs;
  for (std::size_t f = 0; f < zoo.files.size(); ++f) {
    const FileData& d = zoo.files[f];
    io::svg::XyPlot q;
    q.title = "Activation difference by C order: " + series_label(zoo, f, 1);
    q.xlabel = "neuron rank by C_i (1 = largest)";
    q.ylabel = "mean |a_i(x_adv) \u2212 a_i(x)|";
    for (std::size_t a = 0; a < d.attacks.size(); ++a) {
      if (d.attacks[a].activation_diff.empty()) continue;
      io::svg::Series s;
      s.label = d.attacks[a].label;
      s.color = colour(a);
      s.markers = d.attacks[a].activation_diff.size() <= 64;
      s.x = ranks(d.attacks[a].activation_diff.size());
      s.y = d.attacks[a].activation_diff;
      q.series.push_back(std::move(s));
    }
    if (q.series.empty()) continue;
    diffs +=
        chart_figure("activation-diff:" + label_of(zoo, f) + ":" + d.stem, q,
                     "How much each attack moves each neuron's activation (mean over the attacked "
                     "samples, in the activations' units), neurons ordered by "
                     "their C_i (paper 000, Fig. 2; /attacks/&lt;attack&gt;/activation_diff). "
                     "Model " +
                         escape(label_of(zoo, f)) + ".",
                     {d.path}, "no finite activation difference in " + d.path);
  }
  body += diffs.empty() ? absent("activation-diff",
                                 "no activation differences among the inputs (only eval runs "
                                 "record them)")
                        : diffs;
  return section("sf", "Neuron Shapley values", "<div class=\"sfb-figures\">" + body + "</div>");
}

std::string stages_section(const Zoo& zoo) {
  std::set<std::string> labels;
  for (const auto& d : zoo.files) {
    for (const auto& a : d.attacks) {
      if (a.stage_names.size() >= 2) labels.insert(a.label);
    }
  }
  std::string body;
  for (const auto& l : labels) {
    io::svg::BarChart c;
    c.title = "Robust accuracy after each stage: " + l;
    c.xlabel = "after stage (cumulative)";
    c.ylabel = "robust accuracy (fraction)";
    c.y_min = 0;
    c.y_max = 1;
    std::vector<std::size_t> files;
    for (std::size_t f = 0; f < zoo.files.size(); ++f) {
      for (const auto& a : zoo.files[f].attacks) {
        if (a.label != l || a.stage_names.size() < 2) continue;
        if (c.categories.empty()) {
          c.categories.push_back("clean");
          for (const auto& s : a.stage_names) c.categories.push_back(s);
        }
        if (a.stage_names.size() + 1 != c.categories.size()) continue;
        io::svg::BarSeries s;
        s.label = label_of(zoo, f);
        s.color = colour(colour_index(zoo, f));
        s.values.push_back(a.clean_acc);
        for (const double v : a.stage_adv_acc) s.values.push_back(v);
        for (const double v : s.values) {
          const auto w = attribution::wilson(std::llround(v * static_cast<double>(a.n)), a.n);
          s.low.push_back(w.low);
          s.high.push_back(w.high);
        }
        c.series.push_back(std::move(s));
        files.push_back(f);
      }
    }
    body +=
        chart_figure("attack-stages:" + l, c,
                     "Accuracy on clean inputs, then the robust accuracy after each stage of the "
                     "attack group " +
                         escape(l) +
                         " (attributes stage_names and stage_adv_acc; the last bar is the group's "
                         "robust accuracy; a sample counts as robust until one stage breaks it), "
                         "with Wilson 95% intervals over the n samples.",
                     paths(zoo, files), "no finite stage accuracy for " + l);
  }
  if (body.empty()) {
    body = absent("attack-stages",
                  "no multi-stage attack group (such as autoattack) among the inputs");
  }
  return section("stages", "Attack stages", "<div class=\"sfb-figures\">" + body + "</div>");
}

std::string training_section(const Zoo& zoo) {
  std::string body;
  io::svg::XyPlot sf, acc;
  sf.title = "SF of the training minibatches per epoch";
  sf.xlabel = "epoch";
  sf.ylabel = "SF (epoch mean)";
  acc.title = "Training accuracy per epoch";
  acc.xlabel = "epoch";
  acc.ylabel = "training accuracy (fraction)";
  std::vector<std::size_t> files;
  const auto n_train = per_model_count(zoo, [](const FileData& d) { return d.train.has_value(); });
  for (std::size_t f = 0; f < zoo.files.size(); ++f) {
    const FileData& d = zoo.files[f];
    if (!d.train || d.train->epoch.empty()) continue;
    const TrainData& t = *d.train;
    const std::string label = series_label(zoo, f, count_of(zoo, n_train, f));
    const std::string col = colour(colour_index(zoo, f));
    io::svg::XyPlot loss;
    loss.title = "Loss terms per epoch: " + label;
    loss.xlabel = "epoch";
    loss.ylabel = "loss (epoch mean, nats)";
    for (std::size_t i = 0; i < t.terms.size(); ++i) {
      if (t.terms[i].first == "sf" || t.terms[i].second.size() != t.epoch.size()) continue;
      io::svg::Series s;
      s.label = t.terms[i].first;
      s.color = colour(i);
      s.x = t.epoch;
      s.y = t.terms[i].second;
      loss.series.push_back(std::move(s));
    }
    body += chart_figure("train-loss:" + label, loss,
                         "The loss terms of the " + escape(t.loss) +
                             " run, each the mean over the epoch's steps (total = base loss + "
                             "\u03bb\u00b7SF; /train/epoch/*).",
                         {d.path}, "no finite loss in " + d.path);
    if (t.sf.size() == t.epoch.size()) {
      io::svg::Series s;
      s.label = label;
      s.color = col;
      s.x = t.epoch;
      s.y = t.sf;
      sf.series.push_back(std::move(s));
    }
    if (t.accuracy.size() == t.epoch.size()) {
      io::svg::Series s;
      s.label = label + " clean";
      s.color = col;
      s.x = t.epoch;
      s.y = t.accuracy;
      acc.series.push_back(s);
      bool any_adv = false;
      for (const double v : t.adv_accuracy) any_adv = any_adv || std::isfinite(v);
      if (any_adv && t.adv_accuracy.size() == t.epoch.size()) {
        s.label = label + " adversarial";
        s.y = t.adv_accuracy;
        s.dashed = true;
        acc.series.push_back(std::move(s));
      }
    }
    files.push_back(f);
  }
  if (files.empty()) {
    return section("training", "Training",
                   absent("training", "no training results (train) among the inputs"));
  }
  if (!sf.series.empty()) {
    body += chart_figure("train-sf", sf,
                         "SF computed on each global minibatch, averaged over the epoch "
                         "(/train/epoch/sf), one curve per training run.",
                         paths(zoo, files), "no finite SF among the training runs");
  }
  if (!acc.series.empty()) {
    body +=
        chart_figure("train-accuracy", acc,
                     "Clean (solid) and adversarial (dashed; runs with an adversarial loss only) "
                     "accuracy on the training samples of each epoch (/train/epoch/accuracy, "
                     "adv_accuracy).",
                     paths(zoo, files), "no finite training accuracy");
  }
  return section("training", "Training", "<div class=\"sfb-figures\">" + body + "</div>");
}

}  // namespace sfb::report::detail
