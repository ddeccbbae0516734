//! Training losses (`SoftmaxCrossEntropyLoss`, `NegativeLogLikelihoodLoss`): element work over the
//! scores, a scalar or per-sample output by `reduction`, and the optional log-probabilities.

use super::*;

impl Importer<'_> {
    pub(super) fn loss(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let scores = self.in_shape(n, 0, idx)?;
        let labels = self.in_shape(n, 1, idx)?;
        if scores.len() < 2 || labels.len() + 1 != scores.len() {
            return Err(self.err(
                n,
                idx,
                format!("scores {scores:?} must be [N, C, ...] with labels [N, ...], got labels {labels:?}"),
            ));
        }
        let reduction = attr_s(n, "reduction");
        let loss = match reduction.as_str() {
            "none" => labels.clone(),
            "" | "mean" | "sum" => vec![],
            other => {
                return Err(self.err(
                    n,
                    idx,
                    format!("reduction `{other}`: use none, mean or sum"),
                ))
            }
        };
        // Softmax (exp, sum, divide, log) over every score for the cross-entropy; a gather and a
        // reduction for the log-likelihood.
        let per_score = if n.op_type == "SoftmaxCrossEntropyLoss" {
            4
        } else {
            1
        };
        let elems = numel(&scores).saturating_mul(per_score);
        let mut outs = vec![loss];
        if n.output.get(1).is_some_and(|o| !o.is_empty()) {
            outs.push(scores);
        }
        self.emit(
            n,
            idx,
            OpKind::Elementwise {
                op: EltOp::Exp,
                elems,
            },
            &[],
            outs,
        )
    }
}
