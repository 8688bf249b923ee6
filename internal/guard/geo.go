// Package guard refuses the sends an abuser would make, before anything is
// stored, and says why. Every SMS, a code or a message, is judged by the
// ceilings the operator set for its account (package policy): where it may
// go (geo permissions), whether the messages API may be used, how many a
// number and a day may take (counted in the send's own transaction); and
// by the SMS-pumping guard. An account may narrow what it may do, never
// widen it; changes go through Admin, which records each in the audit log.
package guard

import (
	"context"
	"strconv"

	"github.com/nyaruka/phonenumbers"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
)

// Geo is the geo-permission policy of the send pipeline: a send goes only
// to a country the account's ceiling allows and, within it, that the
// service's own list (for its codes) or else the account's own list
// allows.
type Geo struct{}

// Allow refuses a send to a country its lists do not allow: for a code 403
// (Forbidden), for a message 400 (an invalid 'to'), both with code 60605
// (the messages API says 21408), naming the country, the list that refused
// it and who can change that list.
func (Geo) Allow(_ context.Context, s pipeline.Send) error {
	if s.Channel == message.Email {
		return nil // an email address has no country
	}
	ceiling, region := s.Ceilings.Countries, s.To.Region
	list, whose := s.Countries, "service"
	if list == "" {
		list, whose = s.AccountCountries, "account"
	}
	if policy.Allows(ceiling, region) && (list == "" || policy.Allows(list, region)) {
		return nil
	}
	dest := "+" + strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
	if region == "" || region == "001" {
		dest = "a number of no country (a global service number)"
	} else {
		dest += " (" + region + ")"
	}
	var e *otpgate.Error
	if !policy.Allows(ceiling, region) {
		e = otpgate.FieldError("to", otpgate.InvalidField,
			": sending to %s is beyond this account's ceiling, which the operator of this otpgate set to %s; only the operator can widen it (otpgate policy set --account %s --countries %s)",
			dest, policy.Describe(ceiling), s.AccountSID, addCountry(ceiling, region))
	} else {
		how := "add it with POST /guard/countries (countries=" + addCountry(list, region) + "), within the account's ceiling of " + policy.Describe(ceiling)
		if whose == "service" {
			how = "add it to the service's countries (POST /guard/countries with service and countries), or clear them to use the account's"
		}
		e = otpgate.FieldError("to", otpgate.InvalidField, ": sending to %s is not enabled for this %s, which sends to %s; %s",
			dest, whose, policy.Describe(list), how)
	}
	e.Code = otpgate.CodeGeoPermission
	if s.Code {
		e.Kind = otpgate.KindForbidden
	}
	return e
}

func addCountry(countries, region string) string {
	if region == "" || region == "001" {
		return policy.AnyCountry
	}
	c, err := policy.ParseCountries(countries + "," + region)
	if err != nil {
		return region
	}
	return c
}

// CodeMessagesNotAllowed is the code of a message refused because the
// account may send verification codes only (Twilio's "permission denied").
const CodeMessagesNotAllowed = otpgate.CodeForbidden

// MessagesAPI refuses a message (not a code) of an account the operator
// allows verification codes only: 403.
func MessagesAPI(_ context.Context, s pipeline.Send) error {
	if s.Code || s.Ceilings.Messages != policy.MessagesCodes {
		return nil
	}
	return otpgate.Errorf(otpgate.KindForbidden, CodeMessagesNotAllowed,
		"This account may send verification codes only: the operator of this otpgate has not allowed it the messages API (otpgate policy set --account %s --messages any)", s.AccountSID)
}
