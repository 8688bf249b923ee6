package phone

import (
	"regexp"
	"slices"

	"github.com/nyaruka/phonenumbers"
)

// typer tells the type of a region's national numbers as libphonenumber's
// GetNumberType does: the same descriptions of its metadata, in the same
// order. libphonenumber builds each description's pattern string anew and
// looks it up in its regular-expression cache twice a description (some
// 2 µs a number, half of a new number's parse); a typer compiles them once.
// TestTyperMatchesLibphonenumber holds the two equal.
type typer struct {
	general                        numberDesc
	others                         []typedDesc // premium rate to voicemail, in libphonenumber's order
	fixed, mobile                  numberDesc
	sameMobileAndFixedLinePatterns bool
}

type typedDesc struct {
	t phonenumbers.PhoneNumberType
	d numberDesc
}

// numberDesc is a description's possible lengths (none: any) and its
// pattern, anchored; re is nil for a description without a pattern, which
// matches no number.
type numberDesc struct {
	lengths []int32
	re      *regexp.Regexp
}

func newNumberDesc(d *phonenumbers.PhoneNumberDesc) numberDesc {
	nd := numberDesc{lengths: d.GetPossibleLength()}
	if p := d.GetNationalNumberPattern(); p != "" {
		nd.re = regexp.MustCompile("^(?:" + p + ")$")
	}
	return nd
}

// matches is libphonenumber's isNumberMatchingDesc for a national number
// that is not empty.
func (d numberDesc) matches(national string) bool {
	if d.re == nil {
		return false
	}
	if len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(national))) {
		return false
	}
	return d.re.MatchString(national)
}

// newTyper returns the typer of region's numbers; nil if libphonenumber
// has no metadata for it.
func newTyper(region string) *typer {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil
	}
	var md *phonenumbers.PhoneMetadata
	for _, m := range coll.GetMetadata() {
		if m.GetId() == region {
			md = m
			break
		}
	}
	if md == nil {
		return nil
	}
	t := &typer{
		general:                        newNumberDesc(md.GetGeneralDesc()),
		fixed:                          newNumberDesc(md.GetFixedLine()),
		mobile:                         newNumberDesc(md.GetMobile()),
		sameMobileAndFixedLinePatterns: md.GetSameMobileAndFixedLinePattern(),
	}
	for _, o := range []struct {
		t phonenumbers.PhoneNumberType
		d *phonenumbers.PhoneNumberDesc
	}{
		{phonenumbers.PREMIUM_RATE, md.GetPremiumRate()},
		{phonenumbers.TOLL_FREE, md.GetTollFree()},
		{phonenumbers.SHARED_COST, md.GetSharedCost()},
		{phonenumbers.VOIP, md.GetVoip()},
		{phonenumbers.PERSONAL_NUMBER, md.GetPersonalNumber()},
		{phonenumbers.PAGER, md.GetPager()},
		{phonenumbers.UAN, md.GetUan()},
		{phonenumbers.VOICEMAIL, md.GetVoicemail()},
	} {
		t.others = append(t.others, typedDesc{o.t, newNumberDesc(o.d)})
	}
	return t
}

// typeOf is the type of national, a national significant number of the
// typer's region (digits, not empty, no leading zero), as libphonenumber's
// getNumberTypeHelper decides it.
func (t *typer) typeOf(national string) phonenumbers.PhoneNumberType {
	if !t.general.matches(national) {
		return phonenumbers.UNKNOWN
	}
	for _, o := range t.others {
		if o.d.matches(national) {
			return o.t
		}
	}
	if t.fixed.matches(national) {
		if t.sameMobileAndFixedLinePatterns || t.mobile.matches(national) {
			return phonenumbers.FIXED_LINE_OR_MOBILE
		}
		return phonenumbers.FIXED_LINE
	}
	if !t.sameMobileAndFixedLinePatterns && t.mobile.matches(national) {
		return phonenumbers.MOBILE
	}
	return phonenumbers.UNKNOWN
}
