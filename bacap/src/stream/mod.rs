//! BACAP streams: SingleMessage and AllOrNothingMessage over any [`crate::store::BoxStore`].
